/**
 * A workspace's own agent in runs: a worker started before the agent existed runs it, with the
 * key the agent was given (the fake provider sees it), and no Redis key or value, event or log
 * line written meanwhile holds that key in clear. A change takes effect for the steps started
 * after it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { dumpKeys, newRedis } from '../helpers/redis.js';
import { scopeOf } from '../../src/store/scope.js';
import { poll } from '../helpers/poll.js';
import { killAllWorkerProcesses, startWorkerProcess } from '../helpers/worker-process.js';

const SECRETS_KEY = randomBytes(32).toString('base64');
const OWN_KEY = `sk-own-${randomBytes(12).toString('hex')}`;
const NEW_KEY = `sk-new-${randomBytes(12).toString('hex')}`;
const logLines: string[] = [];

let fake: FakeLlmServer;
let h: Harness;
/** An API without workers, for the worker process below. */
let api: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'ws-agents-run',
    agents: { shared: { provider: 'echo' } },
    fake,
    // The pools start here, before any workspace agent exists.
    env: { SWITCHYARD_SECRETS_KEY: SECRETS_KEY },
    logger: createLogger('debug', { destination: { write: (line: string) => void logLines.push(line) } }),
  });
});

afterAll(async () => {
  await killAllWorkerProcesses();
  await api?.close();
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

/** Every key under the harness's prefix, with its value as text (whatever its type). */
async function dumpPrefix(prefix: string): Promise<Map<string, string>> {
  const redis = newRedis();
  try {
    return await dumpKeys(redis, prefix);
  } finally {
    await redis.quit();
  }
}

const bearer = (key: string) => `Bearer ${key}`;

describe('a workspace agent in a run', () => {
  let runId: string;

  it('runs on a worker started before it was created, with its own key', async () => {
    const created = await h.request('POST', '/v1/agents', {
      name: 'helper',
      provider: 'openai',
      model: 'gpt-4o-mini',
      systemPrompt: 'Help.',
      apiKey: OWN_KEY,
      concurrency: 2,
    });
    expect(created.status).toBe(201);
    fake.reset();
    const res = await h.request('POST', '/v1/runs', {
      workflow: {
        name: 'own-and-shared',
        input: { who: { type: 'string' } },
        steps: [
          { id: 'first', agent: 'helper', input: { task: 'Say hello to {{ input.who }}' } },
          { id: 'second', agent: 'shared', dependsOn: ['first'], input: { task: 'Repeat: {{ steps.first.output }}' } },
        ],
      },
      input: { who: 'Ada' },
    });
    expect(res.body.error).toBeUndefined();
    runId = res.body.id;
    const run = await h.waitForRun(runId, 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.steps.find((s) => s.stepId === 'first')).toMatchObject({ status: 'succeeded', agent: 'helper' });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.headers.authorization).toBe(bearer(OWN_KEY));
  });

  it('leaves its key in clear in no Redis key or value, event, job or log line', async () => {
    const dump = await dumpPrefix(h.prefix);
    expect(dump.size).toBeGreaterThan(10);
    const holding = [...dump].filter(([key, value]) => key.includes(OWN_KEY) || value.includes(OWN_KEY)).map(([key]) => key);
    expect(holding).toEqual([]);
    // The agent's record holds it sealed; the job of its step names the agent only.
    expect([...dump.keys()].some((k) => k.endsWith(':agents'))).toBe(true);
    const events = await h.request('GET', `/v1/runs/${runId}/events`);
    expect(events.status).toBe(200);
    expect(JSON.stringify(events.body)).not.toContain(OWN_KEY);
    expect(JSON.stringify((await h.request('GET', `/v1/runs/${runId}?include=debug`)).body)).not.toContain(OWN_KEY);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.filter((l) => l.includes(OWN_KEY))).toEqual([]);
  });

  it('takes a change (a new key, a new prompt) for the steps started after it', async () => {
    const changed = await h.request('PATCH', '/v1/agents/helper', { apiKey: NEW_KEY, systemPrompt: 'Help, briefly.' });
    expect(changed.status).toBe(200);
    fake.reset();
    const res = await h.request('POST', '/v1/runs', { agent: 'helper', input: { task: 'again' } });
    expect(res.status).toBe(202);
    expect((await h.waitForRun(res.body.id, 20_000)).status).toBe('succeeded');
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.headers.authorization).toBe(bearer(NEW_KEY));
    expect(JSON.stringify(fake.requests[0]!.body)).toContain('Help, briefly.');
  });

  it('refuses a run naming an agent the workspace does not have (422)', async () => {
    const res = await h.request('POST', '/v1/runs', { agent: 'nobody', input: { task: 'x' } });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toMatch(/unknown agent "nobody".*helper/);
  });

  it("is not another workspace's to run, and is gone once deleted", async () => {
    const other = scopeOf(h.system.cell, 'other-ws');
    await expect(h.system.api.submissions.submitAgentTask(other, 'helper', { task: 'x' })).rejects.toThrow(/unknown agent "helper"/);
    await expect(
      h.system.api.submissions.submitWorkflow(other, { name: 'borrow', steps: [{ id: 'a', agent: 'helper', input: { task: 'x' } }] }, {}),
    ).rejects.toThrow(/helper/);
    expect((await h.request('DELETE', '/v1/agents/helper')).status).toBe(204);
    expect((await h.request('POST', '/v1/runs', { agent: 'helper', input: { task: 'x' } })).status).toBe(422);
    expect(await h.system.api.agents.index(h.system.cell)).toEqual([]);
  });
});

describe('a worker process started before the agent was created', () => {
  it('serves it without a restart, with its key, and takes its changes', { timeout: 60_000 }, async () => {
    api = await startHarness({
      name: 'ws-agents-proc',
      agents: { shared: { provider: 'echo' } },
      fake,
      pools: false,
      env: { SWITCHYARD_SECRETS_KEY: SECRETS_KEY },
    });
    await poll(
      'the API connection',
      () => api.system.ping(),
      (up) => up,
    );
    const worker = await startWorkerProcess({ prefix: api.prefix, agents: { shared: { provider: 'echo' } }, fake, secretsKey: SECRETS_KEY });
    expect((await api.request('POST', '/v1/agents', { name: 'remote', provider: 'anthropic', model: 'claude-test', apiKey: OWN_KEY })).status).toBe(201);
    fake.reset();
    const first = await api.request('POST', '/v1/runs', { agent: 'remote', input: { task: 'from another process' } });
    expect(first.status).toBe(202);
    expect((await api.waitForRun(first.body.id, 30_000)).status).toBe('succeeded');
    expect(fake.requests.map((r) => r.headers.authorization)).toEqual([bearer(OWN_KEY)]);

    expect((await api.request('PATCH', '/v1/agents/remote', { apiKey: NEW_KEY })).status).toBe(200);
    fake.reset();
    const second = await api.request('POST', '/v1/runs', { agent: 'remote', input: { task: 'after the change' } });
    expect((await api.waitForRun(second.body.id, 30_000)).status).toBe('succeeded');
    expect(fake.requests.map((r) => r.headers.authorization)).toEqual([bearer(NEW_KEY)]);
    expect(worker.stderr()).not.toContain(OWN_KEY);
    expect((await worker.stop()).code).toBe(0);
  });
});
