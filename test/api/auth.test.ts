/**
 * Credentials: API keys (made by the store, the admin API and the CLI) and JWT bearer tokens;
 * missing, unknown, malformed, revoked, expired and wrong-scope credentials; the open
 * development mode and when it ends; production.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { REDIS_URL } from '../helpers/redis.js';
import { nodeArgs } from '../helpers/node-entry.js';

const run = promisify(execFile);
const agents = { a: { provider: 'echo' } };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const task = { agent: 'a', input: { task: 'hello' } };

afterAll(() => assertAllClosed());

describe('API keys', () => {
  let h: Harness;
  let acme: string;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({ name: 'auth-keys', agents });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('serves requests without a credential while no key exists (open development mode), as the default workspace', async () => {
    const res = await h.request('POST', '/v1/runs', task);
    expect(res.status).toBe(202);
    expect((await h.waitForRun(res.body.id)).workspaceId).toBe('default');
  });

  it('requires a credential from the first key on: 401 with WWW-Authenticate, health checks stay open', async () => {
    acme = (await h.system.keys.create({ workspace: 'acme', scopes: ['runs:write', 'runs:read'] })).key;
    admin = (await h.system.keys.create({ workspace: 'ops', scopes: ['admin'] })).key;
    const res = await h.request('GET', '/v1/runs');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
    expect(res.body.error.message).toContain('a credential is required');
    expect((await h.request('GET', '/healthz')).status).toBe(200);
    expect((await h.request('GET', '/readyz')).status).toBe(200);
  });

  it('acts for the workspace of the key', async () => {
    const res = await h.request('POST', '/v1/runs', task, bearer(acme));
    expect(res.status).toBe(202);
    const run = await h.waitForRun(res.body.id).catch(() => undefined);
    // The harness reads the default workspace: acme's run is not there.
    expect(run).toBeUndefined();
    const view = await h.request('GET', `/v1/runs/${res.body.id}`, undefined, bearer(acme));
    expect(view.status).toBe(200);
    expect(view.body.workspaceId).toBe('acme');
  });

  it('refuses unknown, malformed and non-bearer credentials with 401', async () => {
    const forged = `${acme.slice(0, -4)}AAAA`;
    for (const headers of [bearer(forged), bearer('sy_nonexistent0_x'), bearer('not-a-key'), { authorization: 'Basic dXNlcjpwdw==' }]) {
      const res = await h.request('GET', '/v1/runs', undefined, headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(JSON.stringify(res.body)).not.toContain(acme.slice(17));
    }
    expect((await h.request('GET', '/v1/runs', undefined, bearer(forged))).body.error.message).toBe('unknown API key');
  });

  it('refuses a missing scope with 403 naming it', async () => {
    const reader = (await h.system.keys.create({ workspace: 'acme', scopes: ['runs:read'] })).key;
    expect((await h.request('GET', '/v1/runs', undefined, bearer(reader))).status).toBe(200);
    const res = await h.request('POST', '/v1/runs', task, bearer(reader));
    expect(res.status).toBe(403);
    expect(res.body.error.message).toContain('"runs:write"');
    expect((await h.request('PUT', '/v1/schedules/x', {}, bearer(acme))).body.error.message).toContain('"schedules:write"');
    expect((await h.request('GET', '/v1/keys', undefined, bearer(acme))).body.error.message).toContain('"admin"');
  });

  it('refuses an expired key and a revoked key with 401', async () => {
    const expired = (await h.system.keys.create({ workspace: 'acme', scopes: ['runs:read'], expiresAt: new Date(Date.now() - 1000) })).key;
    const res = await h.request('GET', '/v1/runs', undefined, bearer(expired));
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/expired/);

    const made = await h.request('POST', '/v1/keys', { workspace: 'acme', scopes: 'runs:read', expires: '1h', name: 'soon revoked' }, bearer(admin));
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ workspace: 'acme', scopes: ['runs:read'], name: 'soon revoked', status: 'active' });
    expect((await h.request('GET', '/v1/runs', undefined, bearer(made.body.key))).status).toBe(200);
    const revoked = await h.request('DELETE', `/v1/keys/${made.body.id}`, undefined, bearer(admin));
    expect(revoked.body.status).toBe('revoked');
    const after = await h.request('GET', '/v1/runs', undefined, bearer(made.body.key));
    expect(after.status).toBe(401);
    expect(after.body.error.message).toContain('revoked');
  });

  it('lists keys to admins without their secret or hash, and refuses a bad request naming the field', async () => {
    const list = await h.request('GET', '/v1/keys?workspace=acme', undefined, bearer(admin));
    expect(list.status).toBe(200);
    expect(list.body.keys.length).toBeGreaterThanOrEqual(3);
    expect(list.body.keys.every((k: { workspace: string }) => k.workspace === 'acme')).toBe(true);
    expect(JSON.stringify(list.body)).not.toMatch(/"(hash|key)"/);
    const bad = await h.request('POST', '/v1/keys', { workspace: 'acme', scopes: ['runs:fly'], expires: 'soon' }, bearer(admin));
    expect(bad.status).toBe(422);
    expect(bad.body.error.message).toContain('scopes');
    expect(bad.body.error.message).toContain('expires');
    expect((await h.request('DELETE', '/v1/keys/nosuchkey123', undefined, bearer(admin))).status).toBe(404);
  });

  it('makes keys from the CLI: the key alone on the last line, and it works', async () => {
    const env = { ...process.env, REDIS_URL, SWITCHYARD_PREFIX: h.prefix };
    const { stdout } = await run('node', [...nodeArgs('src/cli/keys.ts'), 'create', '--workspace', 'acme', '--scopes', 'runs:read', '--expires', '30d'], {
      env,
    });
    const key = stdout.trim().split('\n').at(-1)!;
    expect(key).toMatch(/^sy_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect((await h.request('GET', '/v1/runs', undefined, bearer(key))).status).toBe(200);
    const id = key.slice(3, 15);
    const listed = JSON.parse((await run('node', [...nodeArgs('src/cli/keys.ts'), 'list', '--workspace', 'acme'], { env })).stdout) as {
      keys: { id: string }[];
    };
    expect(listed.keys.map((k) => k.id)).toContain(id);
    await run('node', [...nodeArgs('src/cli/keys.ts'), 'revoke', id], { env });
    expect((await h.request('GET', '/v1/runs', undefined, bearer(key))).status).toBe(401);
    const bad = await run('node', [...nodeArgs('src/cli/keys.ts'), 'create', '--workspace', 'acme', '--scopes', 'runs:fly'], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain('unknown scope "runs:fly"');
  });
});

describe('JWT bearer tokens', () => {
  const secret = 'a-test-secret-of-at-least-32-bytes!!';
  let h: Harness;
  const sign = (claims: Record<string, unknown>, opts: { key?: string; exp?: string | number } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m')
      .sign(new TextEncoder().encode(opts.key ?? secret));
  beforeAll(async () => {
    h = await startHarness({ name: 'auth-jwt', agents, pools: false, env: { SWITCHYARD_JWT_SECRET: secret, SWITCHYARD_JWT_WORKSPACE_CLAIM: 'ws' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('requires a credential as soon as a JWT issuer is configured', async () => {
    expect((await h.request('GET', '/v1/runs')).status).toBe(401);
  });

  it('acts for the workspace and scopes of a valid token', async () => {
    const token = await sign({ ws: 'acme', scope: 'runs:read runs:write' });
    const res = await h.request('POST', '/v1/runs', task, bearer(token));
    expect(res.status).toBe(202);
    expect((await h.request('GET', `/v1/runs/${res.body.id}`, undefined, bearer(token))).body.workspaceId).toBe('acme');
    const other = await sign({ ws: 'beta', scope: ['runs:read'] });
    expect((await h.request('GET', `/v1/runs/${res.body.id}`, undefined, bearer(other))).status).toBe(404);
  });

  it('refuses expired, badly signed and workspace-less tokens with 401, a missing scope with 403', async () => {
    const cases: [Promise<string>, number, string][] = [
      [sign({ ws: 'acme', scope: 'runs:read' }, { exp: Math.floor(Date.now() / 1000) - 60 }), 401, 'token expired'],
      [sign({ ws: 'acme', scope: 'runs:read' }, { key: 'another-secret-another-secret-0000' }), 401, 'signature'],
      [sign({ scope: 'runs:read' }), 401, '"ws" claim'],
      [sign({ ws: 'acme', scope: 'runs:read runs:fly' }), 401, 'unknown scope "runs:fly"'],
      [sign({ ws: 'acme', scope: 'runs:write' }), 403, '"runs:read"'],
    ];
    for (const [token, status, message] of cases) {
      const res = await h.request('GET', '/v1/runs', undefined, bearer(await token));
      expect(res.status, message).toBe(status);
      expect(res.body.error.message).toContain(message);
    }
  });
});

describe('JWT bearer tokens verified against a JWKS URL', () => {
  it('accepts a token signed by a key the JWKS publishes (issuer and audience checked), refuses another key; 503 while the JWKS cannot be fetched', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const other = await generateKeyPair('ES256');
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
    const server = await new Promise<Server>((resolve) => {
      const s = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks))).listen(0, '127.0.0.1', () =>
        resolve(s),
      );
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    const h = await startHarness({
      name: 'auth-jwks',
      agents,
      pools: false,
      env: { SWITCHYARD_JWT_JWKS_URL: url, SWITCHYARD_JWT_ISSUER: 'https://id.example', SWITCHYARD_JWT_AUDIENCE: 'switchyard' },
    });
    const sign = (key: typeof privateKey, audience = 'switchyard') =>
      new SignJWT({ workspace: 'acme', scope: 'runs:read' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('https://id.example')
        .setAudience(audience)
        .setExpirationTime('5m')
        .sign(key);
    try {
      expect((await h.request('GET', '/v1/runs', undefined, bearer(await sign(privateKey)))).status).toBe(200);
      const forged = await h.request('GET', '/v1/runs', undefined, bearer(await sign(other.privateKey)));
      expect(forged.status).toBe(401);
      expect(forged.body.error.message).toContain('signature');
      const wrongAudience = await h.request('GET', '/v1/runs', undefined, bearer(await sign(privateKey, 'someone-else')));
      expect(wrongAudience.status).toBe(401);
      expect(wrongAudience.body.error.message).toContain('"aud"');
      // The JWKS unreachable: 503, not the token's fault. A fresh process has no cached keys.
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      const down = await startHarness({ name: 'auth-jwks-down', agents, pools: false, env: { SWITCHYARD_JWT_JWKS_URL: url } });
      try {
        const res = await down.request('GET', '/v1/runs', undefined, bearer(await sign(privateKey)));
        expect(res.status).toBe(503);
        expect(res.body.error.message).toContain('could not be fetched');
      } finally {
        await down.close();
      }
    } finally {
      await h.close();
      if (server.listening) await new Promise((r) => server.close(r));
    }
  });
});

describe('modes', () => {
  it('in production requires a credential everywhere but /healthz and /readyz, even with no key', async () => {
    const h = await startHarness({ name: 'auth-prod', agents, pools: false, env: { NODE_ENV: 'production' } });
    try {
      for (const path of [
        '/v1/runs',
        '/v1/workflows',
        '/v1/agents',
        '/v1/stats',
        '/v1/schedules',
        '/v1/limits',
        '/v1/audit',
        '/metrics',
        '/admin/queues/api/queues',
      ])
        expect((await h.request('GET', path)).status, path).toBe(401);
      expect((await h.request('GET', '/healthz')).status).toBe(200);
      expect((await h.request('GET', '/readyz')).status).toBe(200);
    } finally {
      await h.close();
    }
  });

  it('SWITCHYARD_DEV_OPEN=1 keeps the open development mode once keys exist (presented keys still checked)', async () => {
    const h = await startHarness({ name: 'auth-devopen', agents, pools: false, env: { SWITCHYARD_DEV_OPEN: '1' } });
    try {
      await h.system.keys.create({ workspace: 'acme', scopes: ['runs:read'] });
      expect((await h.request('GET', '/v1/runs')).status).toBe(200);
      expect((await h.request('GET', '/v1/runs', undefined, bearer('sy_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'))).status).toBe(401);
    } finally {
      await h.close();
    }
  });
});
