/**
 * Engine guarantees that are not about one pattern: reading any ancestor's output, and never
 * paying twice for a call whose result was already stored when its job is delivered again.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWorkerPools } from '../workers/pool.js';
import { startFakeLlmServer, type FakeLlmServer } from './fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from './helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'engine',
    fake,
    pools: false, // each test starts the pools when it wants the work to happen
    agents: { e: { provider: 'echo' }, gpt: { provider: 'openai', model: 'gpt-test', attempts: 1 } },
    workflows: [
      {
        name: 'chain',
        steps: [
          { sequential: [
            { id: 'a', agent: 'e', input: { task: 'alpha' } },
            { id: 'b', agent: 'e', input: { task: 'beta' } },
            { id: 'c', agent: 'e', input: { task: 'from a: {{steps.a.output}}' } },
          ] },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

it('renders templates that read an ancestor which is not a direct dependency', async () => {
  const pools = await startWorkerPools(h.system);
  try {
    const res = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {} });
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('[e] from a: [e] alpha');
  } finally {
    await pools.close();
  }
});

it('returns the stored result of a step delivered again after a crash, without calling the provider', async () => {
  const res = await h.request('POST', '/v1/runs', { agent: 'gpt', input: { task: 'expensive call' } });
  const runId = res.body.id as string;
  // A worker called the model, stored the answer, then died before BullMQ marked the job done.
  const { store } = h.system;
  await store.transitionStep(runId, 'gpt', { from: ['pending'], to: 'running', fields: { attempts: 1, startedAt: new Date().toISOString() } });
  await store.transitionStep(runId, 'gpt', {
    from: ['running'],
    to: 'succeeded',
    fields: { output: 'stored answer', usage: { inputTokens: 5, outputTokens: 2 }, model: 'gpt-test', finishedAt: new Date().toISOString() },
  });

  const pools = await startWorkerPools(h.system);
  try {
    const run = await h.waitForRun(runId);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('stored answer');
    expect(run.usage).toEqual({ inputTokens: 5, outputTokens: 2 });
    expect(fake.requests.filter((r) => r.prompt === 'expensive call')).toHaveLength(0);
  } finally {
    await pools.close();
  }
});
