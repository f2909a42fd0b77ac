/**
 * A workspace's secrets over the API (PUT/GET/DELETE /v1/workspaces/:id/secrets): sealed at
 * rest under SWITCHYARD_SECRETS_KEY, never shown again (names and times only), opened for the
 * tools by name, audited without their value; bad input a 4xx naming the problem; without a
 * secrets key a 422 and nothing stored.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnreadableSecretError } from '../../src/agents/workspace-secrets.js';
import { keys } from '../../src/store/keys.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

const SECRETS_KEY = randomBytes(32).toString('base64');
const VALUE = `sk-search-${randomBytes(12).toString('hex')}`;

let h: Harness;
let open: Harness;
let admin: { headers: Record<string, string>; id: string };
let reader: Record<string, string>;

beforeAll(async () => {
  h = await startHarness({ name: 'api-ws-secrets', agents: { a: { provider: 'echo' } }, pools: false, env: { SWITCHYARD_SECRETS_KEY: SECRETS_KEY } });
  open = await startHarness({ name: 'api-ws-secrets-nokey', agents: { a: { provider: 'echo' } }, pools: false });
  for (const x of [h, open])
    await poll(
      'the API connection',
      () => x.system.ping(),
      (up) => up,
    );
  const made = await h.system.keys.create({ workspace: 'ops', scopes: ['admin'] });
  admin = { headers: { authorization: `Bearer ${made.key}` }, id: made.view.id };
  reader = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'team', scopes: ['runs:write', 'runs:read', 'agents:write'] })).key}` };
});

afterAll(async () => {
  for (const x of [h, open]) await x?.system.api.store.redis.del(keys.secrets(x.system.scope('team')), keys.secretWorkspaces(x.system.scope('team')));
  await h?.close();
  await open?.close();
  assertAllClosed();
});

const put = (x: Harness, name: string, body: unknown, headers = admin.headers, ws = 'team') =>
  x.request('PUT', `/v1/workspaces/${ws}/secrets/${name}`, body, headers);

describe('workspace secrets', () => {
  it('sets, lists (never a value), opens for the tools, replaces and deletes a secret', async () => {
    const created = await put(h, 'SEARCH_KEY', { value: VALUE });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ name: 'SEARCH_KEY', updatedAt: expect.any(String) });
    expect((await put(h, 'OTHER', { value: 'x' })).status).toBe(201);

    const listed = await h.request('GET', '/v1/workspaces/team/secrets', undefined, admin.headers);
    expect(listed.status).toBe(200);
    expect(listed.body.secrets.map((s: { name: string }) => s.name)).toEqual(['OTHER', 'SEARCH_KEY']);
    expect(JSON.stringify(listed.body)).not.toContain(VALUE);

    // Sealed at rest: Redis holds no clear value.
    const stored = await h.system.api.store.redis.hget(keys.secrets(h.system.scope('team')), 'SEARCH_KEY');
    expect(stored).toMatch(/"sealed":"v1\./);
    expect(stored).not.toContain(VALUE);

    // The tools' lookup, on the engine's side, opens it by workspace and name.
    expect(await h.system.engine.secrets.lookup('team', 'SEARCH_KEY')).toBe(VALUE);
    expect(await h.system.engine.secrets.lookup('team', 'MISSING')).toBeUndefined();
    expect(await h.system.engine.secrets.lookup('other', 'SEARCH_KEY')).toBeUndefined();

    const replaced = await put(h, 'SEARCH_KEY', { value: `${VALUE}-2` });
    expect(replaced.status).toBe(200);
    expect(await h.system.engine.secrets.lookup('team', 'SEARCH_KEY')).toBe(`${VALUE}-2`);

    expect((await h.request('DELETE', '/v1/workspaces/team/secrets/OTHER', undefined, admin.headers)).status).toBe(204);
    const again = await h.request('DELETE', '/v1/workspaces/team/secrets/OTHER', undefined, admin.headers);
    expect(again.status).toBe(404);
    expect(again.body.error.message).toBe('workspace "team" has no secret "OTHER"');
    expect(await h.system.engine.secrets.lookup('team', 'OTHER')).toBeUndefined();
  });

  it('audits each change with its name, never its value', async () => {
    expect((await put(h, 'AUDITED', { value: VALUE })).status).toBe(201);
    expect((await h.request('DELETE', '/v1/workspaces/team/secrets/AUDITED', undefined, admin.headers)).status).toBe(204);
    const { entries } = await h.system.audit.list({ workspace: 'team', limit: 50 });
    const mine = entries.filter((e) => e.target === 'AUDITED').reverse();
    expect(mine.map((e) => [e.action, e.actor.id, e.details])).toEqual([
      ['secret.set', admin.id, { created: true }],
      ['secret.removed', admin.id, undefined],
    ]);
    expect(JSON.stringify(entries)).not.toContain(VALUE);
  });

  it('does not open a sealed value moved to another name', async () => {
    expect((await put(h, 'MOVED_FROM', { value: VALUE })).status).toBe(201);
    const redis = h.system.api.store.redis;
    const key = keys.secrets(h.system.scope('team'));
    await redis.hset(key, 'MOVED_TO', (await redis.hget(key, 'MOVED_FROM'))!);
    const err = await h.system.engine.secrets.lookup('team', 'MOVED_TO').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreadableSecretError);
    expect((err as Error).message).toMatch(/^the secret "MOVED_TO" of workspace "team" does not open/);
    expect((err as Error).message).not.toContain(VALUE);
    await redis.hdel(key, 'MOVED_FROM', 'MOVED_TO');
  });

  it('refuses bad input with a 4xx naming the problem, never echoing the value', async () => {
    const cases: [string, unknown, number, RegExp][] = [
      ['9BAD', { value: VALUE }, 422, /name: must be letters, digits or "_"/],
      ['has-dash', { value: VALUE }, 422, /name:/],
      ['OK', { value: '' }, 422, /value: must not be empty/],
      ['OK', { value: 7 }, 422, /value/],
      ['OK', { value: VALUE, extra: 1 }, 422, /extra/],
      ['OK', { value: 'x'.repeat(16_385) }, 422, /value: must be at most 16384 bytes/],
    ];
    for (const [name, body, status, message] of cases) {
      const res = await put(h, name, body);
      expect({ name, status: res.status }).toEqual({ name, status });
      expect(res.body.error.message).toMatch(message);
      expect(JSON.stringify(res.body)).not.toContain(VALUE);
    }
    expect((await put(h, 'OK', { value: VALUE }, admin.headers, 'bad ws')).status).toBe(422);
    // Not an admin: refused, nothing stored.
    expect((await put(h, 'NOPE', { value: VALUE }, reader)).status).toBe(403);
    expect((await h.request('GET', '/v1/workspaces/team/secrets', undefined, reader)).status).toBe(403);
    expect(await h.system.engine.secrets.lookup('team', 'NOPE')).toBeUndefined();
  });

  it('without SWITCHYARD_SECRETS_KEY refuses to store a secret (422) and stores nothing', async () => {
    const res = await put(open, 'SEARCH_KEY', { value: VALUE }, {});
    expect(res.status).toBe(422);
    expect(res.body.error.message).toMatch(/SWITCHYARD_SECRETS_KEY is not set on this server: a secret cannot be stored/);
    expect(await open.system.api.store.redis.exists(keys.secrets(open.system.scope('team')))).toBe(0);
  });
});
