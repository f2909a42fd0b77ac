/**
 * Engine guarantees that are not about one pattern: reading any ancestor's output, never
 * paying twice for a call whose result was already stored when its job is delivered again, and
 * a step's result being in the run state before anything its completion starts reads it.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startWorkerPools } from '../workers/pool.js';
import { startFakeLlmServer, type FakeLlmServer } from './fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from './helpers/harness.js';

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
        name: 'fan',
        steps: [
          { parallel: Array.from({ length: 8 }, (_, i) => ({ id: `p${i}`, agent: 'e', input: { task: `part ${i}` } })) },
          { id: 'join', agent: 'e', dependsOn: Array.from({ length: 8 }, (_, i) => `p${i}`), input: { task: 'join {{steps.p7.output}}' } },
        ],
      },
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

/** Run `fn` with worker pools serving the system, closed afterwards whatever happens. */
async function withPools(fn: () => Promise<void>): Promise<void> {
  const pools = await startWorkerPools(h.system);
  try {
    await fn();
  } finally {
    await pools.close();
  }
}

it('renders templates that read an ancestor which is not a direct dependency', async () => {
  await withPools(async () => {
    const res = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {} });
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('[e] from a: [e] alpha');
  });
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

  await withPools(async () => {
    const run = await h.waitForRun(runId);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('stored answer');
    expect(run.usage).toEqual({ inputTokens: 5, outputTokens: 2 });
    expect(fake.requests.filter((r) => r.prompt === 'expensive call')).toHaveLength(0);
  });
});

it('has a step\'s result in the run state before its dependents and the run\'s root read it (no re-reads)', async () => {
  // The result is written ahead of the job's completion on BullMQ's connection, without
  // waiting for the reply: dependents must still find it at their first read.
  const begin = vi.spyOn(h.system.store, 'beginStep');
  const finish = vi.spyOn(h.system.store, 'finishRun');
  try {
    await withPools(async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await h.request('POST', '/v1/runs', { workflow: 'fan', input: {} })).body.id);
      ids.push((await h.request('POST', '/v1/runs', { workflow: 'chain', input: {} })).body.id);
      for (const id of ids) expect((await h.waitForRun(id)).status).toBe('succeeded');
      for (const id of ids) {
        const calls = begin.mock.calls.filter(([runId]) => runId === id);
        expect(calls.length).toBe((await h.system.runs.get(id)).steps.length); // one read per step
        expect(finish.mock.calls.filter(([runId]) => runId === id)).toHaveLength(1);
      }
    });
  } finally {
    begin.mockRestore();
    finish.mockRestore();
  }
});

it('waits for a step result that lands after its job completed, at a dependent and at the run\'s root', async () => {
  // What happens when the write ahead has to be resent (script cache flushed): the job
  // completes first. Dependents and the root look again briefly instead of calling it lost.
  const store = h.system.store;
  const original = store.transitionStepAhead.bind(store);
  const late = vi.spyOn(store, 'transitionStepAhead').mockImplementation((runId, stepId, t) => new Promise((r) => setTimeout(r, 150)).then(() => original(runId, stepId, t)));
  try {
    await withPools(async () => {
      const res = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {} });
      const run = await h.waitForRun(res.body.id);
      expect(run.status).toBe('succeeded');
      expect(run.output).toBe('[e] from a: [e] alpha');
      expect(run.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
      expect(late).toHaveBeenCalledTimes(3);
    });
  } finally {
    late.mockRestore();
  }
});

it('ends a run whose flow could not be enqueued, and frees its idempotency key', async () => {
  const add = vi.spyOn(h.system.flowProducer, 'add').mockRejectedValueOnce(new Error('Redis said no'));
  try {
    const res = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {}, idempotencyKey: 'enqueue-fails' });
    expect(res.status).toBe(500);
    const [run] = (await h.system.store.listRuns({ limit: 1 })).runs;
    expect(run).toMatchObject({ workflow: 'chain', status: 'failed', error: 'could not enqueue the run: Redis said no' });
    // The key is free again: the same request now runs.
    const again = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {}, idempotencyKey: 'enqueue-fails' });
    expect(again.status).toBe(202);
    expect(again.body.id).not.toBe(run!.id);
  } finally {
    add.mockRestore();
  }
});

it('lets a flow whose run state could not be written drain without running anything', async () => {
  const create = vi.spyOn(h.system.store, 'createRun').mockRejectedValueOnce(new Error('state write refused'));
  const add = vi.spyOn(h.system.flowProducer, 'add');
  try {
    await withPools(async () => {
      const before = fake.requests.length;
      const res = await h.request('POST', '/v1/runs', { agent: 'gpt', input: { task: 'never called' } });
      expect(res.status).toBe(500);
      const runId = (add.mock.calls[0]![0].opts as { jobId: string }).jobId;
      expect(await h.system.store.getRun(runId)).toBeNull();
      await expectNoLiveJobs(h.system, runId);
      expect(fake.requests.length).toBe(before); // the provider was never called
    });
  } finally {
    create.mockRestore();
    add.mockRestore();
  }
});
