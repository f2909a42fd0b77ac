/**
 * Agents over the API (POST/GET/PATCH/DELETE /v1/agents, POST /v1/agents/:name/test): a
 * workspace's own agents beside the shared ones, checked by the agents file's schema, their
 * provider key sealed at rest and never shown; every bad request a 4xx naming the problem.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { keys } from '../../src/store/keys.js';
import { scopeOf } from '../../src/store/scope.js';

const SECRETS_KEY = randomBytes(32).toString('base64');
const OWN_KEY = 'sk-own-workspace-key-7f3a9c';

let fake: FakeLlmServer;
let h: Harness;
let open: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'api-ws-agents',
    agents: { shared: { provider: 'echo', systemPrompt: 'Shared prompt.' } },
    fake,
    pools: false,
    env: { SWITCHYARD_SECRETS_KEY: SECRETS_KEY },
  });
  // A server without SWITCHYARD_SECRETS_KEY: a key cannot be stored there.
  open = await startHarness({ name: 'api-ws-agents-nokey', agents: { shared: { provider: 'echo' } }, fake, pools: false });
  // Without workers nothing else waits for Redis: the API answers 503 until its connection is up.
  for (const x of [h, open])
    await poll(
      'the API connection',
      () => x.system.ping(),
      (up) => up,
    );
});

afterAll(async () => {
  await h?.close();
  await open?.close();
  await fake?.close();
  assertAllClosed();
});

const reviewer = { name: 'reviewer', provider: 'openai', model: 'gpt-4o-mini', systemPrompt: 'Review.', apiKey: OWN_KEY };

describe('POST /v1/agents', () => {
  it('creates a workspace agent, its key sealed in Redis and shown only as "set"', async () => {
    const res = await h.request('POST', '/v1/agents', reviewer);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'reviewer', source: 'workspace', provider: 'openai', model: 'gpt-4o-mini', apiKey: 'set', version: 1 });
    expect(JSON.stringify(res.body)).not.toContain(OWN_KEY);
    const stored = await h.system.api.store.redis.hget(keys.agents(h.system.scope()), 'reviewer');
    expect(stored).toBeTruthy();
    expect(stored).not.toContain(OWN_KEY);
    expect(JSON.parse(stored!).sealedKey).toMatch(/^v1\.[0-9a-f]{16}\./);
  });

  it('lists the shared agents and the workspace ones, marked', async () => {
    const res = await h.request('GET', '/v1/agents');
    expect(res.status).toBe(200);
    const by = Object.fromEntries(res.body.agents.map((a: any) => [a.name, a]));
    expect(by.shared.source).toBe('shared');
    expect(by.reviewer).toMatchObject({ source: 'workspace', apiKey: 'set' });
    expect(by.reviewer.systemPrompt).toBeUndefined();
    expect(JSON.stringify(res.body)).not.toContain(OWN_KEY);
    const one = await h.request('GET', '/v1/agents/reviewer');
    expect(one.body).toMatchObject({ name: 'reviewer', source: 'workspace', apiKey: 'set' });
    expect(one.body.systemPrompt).toBeUndefined();
    expect((await h.request('GET', '/v1/agents/reviewer?include=prompts')).body.systemPrompt).toBe('Review.');
    expect((await h.request('GET', '/v1/agents/shared')).body).toMatchObject({ name: 'shared', source: 'shared' });
    expect((await h.request('GET', '/v1/agents/shared?include=keys')).status).toBe(422);
  });

  it('refuses bad input with a 4xx naming the problem', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ ...reviewer, name: 'Bad Name' }, 422, /name/],
      [{ name: 'x1', provider: 'openai' }, 422, /model/],
      [{ name: 'x2', provider: 'echo', temperature: 9 }, 422, /temperature/],
      [{ name: 'x3', provider: 'echo', nonsense: 1 }, 422, /nonsense/],
      [{ name: 'x4', provider: 'openai', model: 'm', apiKeyEnv: 'SWITCHYARD_SECRETS_KEY' }, 422, /apiKeyEnv/],
      [{ name: 'x5', provider: 'openai', model: 'm', baseURL: 'https://elsewhere.example/v1', apiKey: 7 }, 422, /apiKey/],
      [{ name: 'x6', provider: 'anthropic', model: 'm', baseURL: 'https://elsewhere.example' }, 422, /apiKey.*baseURL|baseURL/],
      [{ name: 'x7', provider: 'echo', delegates: ['nobody'] }, 422, /delegates\.0.*unknown agent "nobody"/],
      [{ name: 'x8', provider: 'echo', apiKey: 'k' }, 422, /echo provider takes no key/],
      [{ name: 'shared', provider: 'echo' }, 409, /shared agent/],
      [{ ...reviewer }, 409, /already exists/],
      [[1, 2], 400, /object/],
    ];
    for (const [body, status, message] of cases) {
      const res = await h.request('POST', '/v1/agents', body);
      expect({ body, status: res.status }).toEqual({ body, status });
      expect(res.body.error.message).toMatch(message);
      expect(JSON.stringify(res.body)).not.toContain(OWN_KEY);
    }
  });

  it('without SWITCHYARD_SECRETS_KEY refuses an apiKey (422) and stores nothing', async () => {
    const res = await open.request('POST', '/v1/agents', reviewer);
    expect(res.status).toBe(422);
    expect(res.body.error.message).toMatch(/SWITCHYARD_SECRETS_KEY is not set/);
    expect(await open.system.api.store.redis.hget(keys.agents(open.system.scope()), 'reviewer')).toBeNull();
    // Without a key of its own, it uses the server's (the fake's test key).
    expect((await open.request('POST', '/v1/agents', { ...reviewer, apiKey: undefined })).status).toBe(201);
  });
});

describe('workflows naming a workspace agent', () => {
  it("POST /v1/workflows/validate knows the workspace's agents; another workspace's are unknown", async () => {
    const def = { name: 'uses-own', steps: [{ id: 'a', agent: 'reviewer', input: { task: 'look' } }] };
    const ok = await h.request('POST', '/v1/workflows/validate', def);
    expect(ok.status).toBe(200);
    expect(ok.body.workflow.steps[0].agent).toBe('reviewer');
    const missing = await open.request('POST', '/v1/workflows/validate', { ...def, steps: [{ id: 'a', agent: 'nobody', input: { task: 'look' } }] });
    expect(missing.status).toBe(422);
    expect(missing.body.error.message).toMatch(/nobody/);
  });
});

describe('PATCH and DELETE /v1/agents/:name', () => {
  it('changes the fields given, keeps the key, adds a version', async () => {
    const res = await h.request('PATCH', '/v1/agents/reviewer', { systemPrompt: 'Review harder.', temperature: 0.2 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ version: 2, systemPrompt: 'Review harder.', temperature: 0.2, apiKey: 'set' });
    const removed = await h.request('PATCH', '/v1/agents/reviewer', { temperature: null });
    expect(removed.body.temperature).toBeUndefined();
    expect(removed.body.version).toBe(3);
  });

  it('refuses bad changes, unknown agents and shared ones', async () => {
    expect((await h.request('PATCH', '/v1/agents/reviewer', { maxTokens: -1 })).status).toBe(422);
    expect((await h.request('PATCH', '/v1/agents/reviewer', { name: 'other' })).status).toBe(422);
    expect((await h.request('PATCH', '/v1/agents/nobody', { maxTokens: 5 })).status).toBe(404);
    const shared = await h.request('PATCH', '/v1/agents/shared', { maxTokens: 5 });
    expect(shared.status).toBe(404);
    expect(shared.body.error.message).toMatch(/shared agent/);
    expect((await h.request('DELETE', '/v1/agents/shared')).status).toBe(404);
  });

  it("hides another workspace's agent (404)", async () => {
    const other = scopeOf(h.system.cell, 'other-ws');
    await h.system.api.agents.create(other, { name: 'private', provider: 'echo' });
    expect((await h.request('GET', '/v1/agents/private')).status).toBe(404);
    expect((await h.request('PATCH', '/v1/agents/private', { maxTokens: 5 })).status).toBe(404);
    expect((await h.request('POST', '/v1/agents/private/test', { prompt: 'hi' })).status).toBe(404);
    expect((await h.request('DELETE', '/v1/agents/private')).status).toBe(404);
    expect((await h.request('GET', '/v1/agents')).body.agents.map((a: any) => a.name)).not.toContain('private');
    await h.system.api.agents.remove(other, 'private');
  });

  it('deletes a workspace agent', async () => {
    await h.request('POST', '/v1/agents', { name: 'temp', provider: 'echo' });
    expect((await h.request('DELETE', '/v1/agents/temp')).status).toBe(204);
    expect((await h.request('GET', '/v1/agents/temp')).status).toBe(404);
    expect((await h.request('DELETE', '/v1/agents/temp')).status).toBe(404);
  });
});

describe('POST /v1/agents/:name/test', () => {
  it("makes one real call with the agent's own key and answers text, latency and usage", async () => {
    fake.reset();
    const res = await h.request('POST', '/v1/agents/reviewer/test', { prompt: 'Hello, are you working?' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ agent: 'reviewer', source: 'workspace', provider: 'openai', model: expect.any(String), text: expect.any(String) });
    expect(res.body.latencyMs).toBeGreaterThanOrEqual(0);
    expect(res.body.usage).toMatchObject({ inputTokens: expect.any(Number), outputTokens: expect.any(Number) });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${OWN_KEY}`);
    expect(fake.requests[0]!.prompt).toBe('Hello, are you working?');
    expect(JSON.stringify(res.body)).not.toContain(OWN_KEY);
  });

  it('tests a shared agent too; bad input is a 422, an unknown agent a 404', async () => {
    const shared = await h.request('POST', '/v1/agents/shared/test', { prompt: 'ping' });
    expect(shared.status).toBe(200);
    expect(shared.body).toMatchObject({ agent: 'shared', source: 'shared', provider: 'echo' });
    expect((await h.request('POST', '/v1/agents/reviewer/test', {})).status).toBe(422);
    expect((await h.request('POST', '/v1/agents/reviewer/test', { prompt: '' })).status).toBe(422);
    expect((await h.request('POST', '/v1/agents/reviewer/test', { prompt: 'x', extra: 1 })).status).toBe(422);
    expect((await h.request('POST', '/v1/agents/nobody/test', { prompt: 'x' })).status).toBe(404);
  });

  it('answers 502 when the provider refuses, without the key in the message', async () => {
    fake.reset();
    const res = await h.request('POST', '/v1/agents/reviewer/test', { prompt: '[[fail-first:1:401]] hello' });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('agent_test_failed');
    expect(JSON.stringify(res.body)).not.toContain(OWN_KEY);
  });
});

// Last: once a key exists the open development mode ends for this server.
describe('credentials and the audit log', () => {
  it('reads with runs:read, shows prompts, writes and tests with agents:write, each write and test audited without the key', async () => {
    const keyOf = async (scopes: ('runs:read' | 'agents:write')[]) => {
      const made = await h.system.keys.create({ workspace: 'team', scopes });
      return { id: made.view.id, headers: { authorization: `Bearer ${made.key}` } };
    };
    const reader = await keyOf(['runs:read']);
    const writer = await keyOf(['runs:read', 'agents:write']);
    const body = { ...reviewer, name: 'audited' };
    expect((await h.request('GET', '/v1/agents', undefined, reader.headers)).status).toBe(200);
    // System prompts are shown only to who may change them.
    const withPrompts = (await h.request('GET', '/v1/agents?include=prompts', undefined, writer.headers)).body.agents as { systemPrompt?: string }[];
    expect(withPrompts.some((a) => typeof a.systemPrompt === 'string')).toBe(true);
    for (const [method, path, given] of [
      ['GET', '/v1/agents?include=prompts', undefined],
      ['GET', '/v1/agents/shared?include=prompts', undefined],
      ['POST', '/v1/agents', body],
      ['PATCH', '/v1/agents/audited', { maxTokens: 5 }],
      ['DELETE', '/v1/agents/audited', undefined],
      ['POST', '/v1/agents/shared/test', { prompt: 'hi' }],
    ] as const) {
      const refused = await h.request(method, path, given, reader.headers);
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(refused.body.error.message).toContain('agents:write');
    }

    expect((await h.request('POST', '/v1/agents', body, writer.headers)).status).toBe(201);
    // Created in its key's workspace, not another's.
    const redis = h.system.api.store.redis;
    expect(await redis.hexists(keys.agents(h.system.scope('team')), 'audited')).toBe(1);
    expect(await redis.hexists(keys.agents(h.system.scope()), 'audited')).toBe(0);
    expect((await h.request('PATCH', '/v1/agents/audited', { temperature: 0.1 }, writer.headers)).status).toBe(200);
    expect((await h.request('POST', '/v1/agents/audited/test', { prompt: 'hi' }, writer.headers)).status).toBe(200);
    expect((await h.request('DELETE', '/v1/agents/audited', undefined, writer.headers)).status).toBe(204);

    const { entries } = await h.system.audit.list({ workspace: 'team', limit: 20 });
    const agentEntries = entries.filter((e) => e.action.startsWith('agent.')).reverse();
    expect(agentEntries.map((e) => `${e.action} ${e.target}`)).toEqual([
      'agent.created audited',
      'agent.changed audited',
      'agent.tested audited',
      'agent.removed audited',
    ]);
    for (const e of agentEntries) expect(e.actor).toEqual({ kind: 'key', id: writer.id });
    expect(agentEntries[0]!.details).toMatchObject({ provider: 'openai', apiKey: true });
    expect(agentEntries[1]!.details).toMatchObject({ fields: ['temperature'], version: 2 });
    expect(agentEntries[2]!.details).toMatchObject({ ok: true });
    expect(JSON.stringify(entries)).not.toContain(OWN_KEY);
  });
});
