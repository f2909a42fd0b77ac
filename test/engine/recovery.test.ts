/**
 * The recovery paths the engine promises, each provoked for real: a step job failed outside
 * the step machine (the watchdog ends the run and names the step), a dependency whose job
 * completed without reporting (recorded lost), a ref whose promote was lost (it wakes by
 * itself), a step whose worker process is killed twice (each interruption an attempt), and a
 * worker process killed with SIGKILL while steps run in it (every run ends, no recorded answer
 * paid twice, no result recorded twice).
 */
import { UnrecoverableError, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startWorkerPools, type WorkerPools } from '../../src/engine/pools.js';
import type { Provider } from '../../src/calls/provider.js';
import { agentQueueName } from '../../src/store/keys.js';
import type { RunView } from '../../src/query/run-view.js';
import { LOST_STEP_ERROR, type StepStatus } from '../../src/model/run.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { unique } from '../helpers/redis.js';
import { killAllWorkerProcesses, startWorkerProcess } from '../helpers/worker-process.js';

/** Lock and stalled-check timing short enough to see a lost worker within a few seconds. */
const STALLED = { lockDuration: 1000, stalledInterval: 500 };

const AGENTS: Record<string, Record<string, unknown>> = {
  fast: { provider: 'echo', echo: { latencyMs: 5 } },
  slow: { provider: 'echo', echo: { latencyMs: 700 } },
  /** Served by a plain BullMQ worker in these tests, never by the step machine. */
  foreign: { provider: 'echo' },
  /** Hangs (in the worker processes that get killed); answered at once by the test's own pools. */
  hang3: { provider: 'echo', echo: { latencyMs: 60_000 }, attempts: 3 },
  hang2: { provider: 'echo', echo: { latencyMs: 60_000 }, attempts: 2 },
  llm: { provider: 'openai', model: 'gpt-test', concurrency: 4, attempts: 3, backoff: { type: 'fixed', delayMs: 100 } },
};

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'recovery',
    fake,
    agents: AGENTS,
    pools: false,
    refSafetyDelayMs: 200,
    workflows: [
      {
        name: 'foreign-first',
        steps: [
          {
            sequential: [
              { id: 'a', agent: 'foreign', input: { task: 'a' } },
              { id: 'b', agent: 'fast', input: { task: 'b' } },
            ],
          },
        ],
      },
      {
        name: 'foreign-optional',
        steps: [
          {
            sequential: [
              { id: 'a', agent: 'foreign', optional: true, input: { task: 'a' } },
              { id: 'b', agent: 'fast', input: { task: 'b' } },
            ],
          },
        ],
      },
      {
        name: 'diamond',
        steps: [
          {
            sequential: [
              { id: 'root', agent: 'slow', input: { task: 'root' } },
              {
                parallel: [
                  { id: 'left', agent: 'fast', input: { task: 'l' } },
                  { id: 'right', agent: 'fast', input: { task: 'r' } },
                ],
              },
              { id: 'join', agent: 'fast', input: { task: 'j' } },
            ],
          },
        ],
      },
      {
        name: 'paid-chain',
        input: { m: { type: 'string' } },
        steps: [
          {
            sequential: [
              { id: 's1', agent: 'llm', input: { task: '{{input.m}} one [[delay:300]]' } },
              { id: 's2', agent: 'llm', input: { task: '{{input.m}} two [[delay:300]]' } },
              { id: 's3', agent: 'llm', input: { task: '{{input.m}} three [[delay:300]]' } },
            ],
          },
        ],
      },
    ],
  });
}, 30_000);

afterAll(async () => {
  await killAllWorkerProcesses();
  await h?.close();
  await fake?.close();
  assertAllClosed();
}, 30_000);

/**
 * Pools in this process, always with the short stalled timing: a stalled check also holds a
 * queue-wide `stalled-check` key for its worker's stalledInterval, so one pool with the default
 * 30 s would keep every other worker from seeing a lost job for that long.
 */
async function withPools<T>(opts: Parameters<typeof startWorkerPools>[1], fn: (pools: WorkerPools) => Promise<T>): Promise<T> {
  const pools = await startWorkerPools(h.system, { stalled: STALLED, ...opts });
  try {
    return await fn(pools);
  } finally {
    await pools.close(5_000);
  }
}

/** A plain BullMQ worker on an agent's queue, with its own processor (not the step machine). */
async function withForeignWorker<T>(processor: () => Promise<unknown>, fn: () => Promise<T>): Promise<T> {
  const worker = new Worker(agentQueueName('foreign'), processor, { connection: h.system.engine.redis, prefix: h.prefix });
  await worker.waitUntilReady();
  try {
    return await fn();
  } finally {
    await worker.close();
  }
}

const submit = async (body: Record<string, unknown>) => {
  const res = await h.request('POST', '/v1/runs', body);
  expect(res.status).toBe(202);
  return res.body.id as string;
};
const stepOf = (run: RunView, id: string) => run.steps.find((s) => s.stepId === id)!;
const statuses = (run: RunView) => run.steps.map((s): [string, StepStatus] => [s.stepId, s.status]);
const startedEvents = async (runId: string, stepId: string) =>
  (await h.system.engine.store.events.read(h.system.scope(), runId)).filter((e) => e.stepId === stepId && e.type === 'step.started').map((e) => e.data);

describe('the watchdog', () => {
  it('ends a run whose step job failed outside the step machine, recording that step failed with its error', async () => {
    const run = await withPools({ agents: ['fast'] }, () =>
      withForeignWorker(
        async () => {
          throw new UnrecoverableError('disk on fire');
        },
        async () => h.waitForRun(await submit({ workflow: 'foreign-first', input: {} })),
      ),
    );
    expect(run.status).toBe('failed');
    expect(run.error).toBe('step "a" failed: disk on fire');
    expect(statuses(run)).toEqual([
      ['a', 'failed'],
      ['b', 'cancelled'],
    ]);
    expect(stepOf(run, 'a').error).toBe('disk on fire');
    expect(run.failedSteps).toEqual([{ stepId: 'a', kind: 'agent', agent: 'foreign', error: 'disk on fire' }]);
    await expectNoLiveJobs(h.system, run.id);
  });
});

describe('a lost dependency', () => {
  // The job completed, yet nothing recorded the step: its dependent finds it still pending.
  const completesWithoutReporting = async () => ({ stepId: 'a', status: 'succeeded' });

  it('is recorded failed by its dependent, and a required one fails the run', async () => {
    const run = await withPools({ agents: ['fast'] }, () =>
      withForeignWorker(completesWithoutReporting, async () => h.waitForRun(await submit({ workflow: 'foreign-first', input: {} }))),
    );
    expect(run.status).toBe('failed');
    expect(statuses(run)).toEqual([
      ['a', 'failed'],
      ['b', 'cancelled'],
    ]);
    expect(stepOf(run, 'a').error).toBe(LOST_STEP_ERROR);
    expect(stepOf(run, 'b').startedAt).toBeNull();
    await expectNoLiveJobs(h.system, run.id);
  });

  it('lets the run go on when the lost step is optional', async () => {
    const run = await withPools({ agents: ['fast'] }, () =>
      withForeignWorker(completesWithoutReporting, async () => h.waitForRun(await submit({ workflow: 'foreign-optional', input: {} }))),
    );
    expect(run.status).toBe('partial_success');
    expect(statuses(run)).toEqual([
      ['a', 'failed'],
      ['b', 'succeeded'],
    ]);
    expect(run.failedSteps).toEqual([{ stepId: 'a', kind: 'agent', agent: 'foreign', error: LOST_STEP_ERROR }]);
  });
});

describe('a ref whose promote was lost', () => {
  it('wakes by itself after its safety delay, sleeps again while its target runs, and lets its dependent start', async () => {
    // No step promotes its refs: every ref edge must wake on its own (safety delay 200 ms).
    const promote = vi.spyOn(h.system.engine.control, 'promoteRefs').mockResolvedValue(undefined);
    try {
      const run = await withPools({}, async () => h.waitForRun(await submit({ workflow: 'diamond', input: {} }), 15_000));
      expect(run.status).toBe('succeeded');
      expect(promote).toHaveBeenCalled();
      // `right` reaches `root` through a ref (`left` owns it); root ran 700 ms, so the ref woke
      // and went back to sleep at least twice before it found root finished.
      const finished = Date.parse(stepOf(run, 'root').finishedAt!);
      expect(Date.parse(stepOf(run, 'right').startedAt!)).toBeGreaterThanOrEqual(finished);
      expect((await startedEvents(run.id, 'root')).length).toBe(1);
      await expectNoLiveJobs(h.system, run.id);
    } finally {
      promote.mockRestore();
    }
  });
});

/** Answers at once: the test's own pools finish what the killed workers left. */
const instant: Provider = {
  name: 'echo',
  complete: async (req) => ({ text: `[${req.agent}] done`, usage: { inputTokens: 1, outputTokens: 1 }, model: 'instant' }),
};

describe('a step whose worker dies', () => {
  it('counts each interruption as an attempt: recovered within its attempts, failed once they are used up', { timeout: 60_000 }, async () => {
    const three = await submit({ agent: 'hang3', input: { task: unique('three lives') } });
    const two = await submit({ agent: 'hang2', input: { task: unique('two lives') } });
    const attemptsOf = async (id: string) => (await h.system.api.queries.get(h.system.scope(), id)).steps[0]!;
    for (const round of [1, 2]) {
      const worker = await startWorkerProcess({ prefix: h.prefix, agents: AGENTS, serve: ['hang3', 'hang2'], internal: false, stalled: STALLED });
      for (const id of [three, two]) {
        await poll(
          `attempt ${round} of ${id} running`,
          () => attemptsOf(id),
          (s) => s.status === 'running' && s.attempts === round,
          { timeoutMs: 15_000 },
        );
      }
      await worker.kill();
    }
    const [a, b] = await withPools({ providerFor: () => instant, stalled: STALLED }, async () =>
      Promise.all([h.waitForRun(three, 20_000), h.waitForRun(two, 20_000)]),
    );
    expect(a.status).toBe('succeeded');
    expect(a.steps[0]).toMatchObject({ status: 'succeeded', attempts: 3, recovered: true, output: '[hang3] done' });
    expect(await startedEvents(three, 'hang3')).toEqual([{ attempt: 1 }, { attempt: 2, recovered: true }, { attempt: 3, recovered: true }]);
    expect(b.status).toBe('failed');
    expect(b.steps[0]).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: 'the step was interrupted 2 times (its worker was lost) and has no attempts left (attempts: 2)',
    });
    expect(b.failedSteps.map((f) => f.stepId)).toEqual(['hang2']);
    await expectNoLiveJobs(h.system, three);
    await expectNoLiveJobs(h.system, two);
  });
});

describe('a worker process killed with SIGKILL while steps run in it', () => {
  it('loses no run, pays no recorded answer twice and records no result twice', { timeout: 90_000 }, async () => {
    fake.reset();
    const worker = await startWorkerProcess({ prefix: h.prefix, agents: AGENTS, fake, stalled: STALLED });
    const markers = Array.from({ length: 8 }, (_, i) => unique(`kill-${i}`));
    const ids = await Promise.all(markers.map((m) => submit({ workflow: 'paid-chain', input: { m } })));
    // Kill it once some answers are recorded and other calls are in flight.
    const snapshot = await poll(
      'some steps done and some running',
      async () =>
        (await Promise.all(ids.map((id) => h.system.api.queries.get(h.system.scope(), id)))).flatMap((r) =>
          r.steps.map((s) => ({ runId: r.id, stepId: s.stepId, status: s.status })),
        ),
      (steps) => steps.filter((s) => s.status === 'succeeded').length >= 4 && steps.some((s) => s.status === 'running'),
      { timeoutMs: 20_000 },
    );
    await worker.kill();
    const recordedBefore = (await Promise.all(ids.map((id) => h.system.api.queries.get(h.system.scope(), id)))).flatMap((r) =>
      r.steps.filter((s) => s.status === 'succeeded').map((s) => s.input as { task: string } | null),
    );
    expect(snapshot.length).toBe(24);

    const runs = await withPools({ stalled: STALLED }, async () => Promise.all(ids.map((id) => h.waitForRun(id, 40_000))));
    for (const run of runs) {
      expect(run.status, run.id).toBe('succeeded');
      for (const s of run.steps) {
        const completed = (await h.system.engine.store.events.read(h.system.scope(), run.id)).filter(
          (e) => e.stepId === s.stepId && e.type === 'step.completed',
        );
        expect(completed, `${run.id} ${s.stepId}`).toHaveLength(1);
      }
      await expectNoLiveJobs(h.system, run.id);
    }
    // Every answer recorded before the kill was paid exactly once.
    expect(recordedBefore.length).toBeGreaterThanOrEqual(4);
    for (const input of recordedBefore) {
      expect(
        fake.requests.filter((r) => r.prompt === input!.task),
        input!.task,
      ).toHaveLength(1);
    }
    // The calls cut by the kill were made again, by an attempt that says it took over.
    const recovered = runs.flatMap((r) => r.steps.filter((s) => s.recovered));
    expect(recovered.length).toBeGreaterThanOrEqual(1);
    for (const s of recovered) expect(s.attempts).toBeGreaterThanOrEqual(2);
  });
});
