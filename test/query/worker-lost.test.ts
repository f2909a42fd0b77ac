/**
 * A worker lost in silence no more: once the process running a step stops beating (killed
 * here with SIGKILL), GET /v1/runs/:id says the step waits for `worker_lost`, naming the
 * process and when the step goes on at the latest; BullMQ's stalled check (its interval and
 * the job lock's duration configurable) hands it to another worker by then, as a new attempt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerPools } from '../../src/engine/pools.js';
import type { Provider } from '../../src/calls/provider.js';
import type { StepRecord } from '../../src/model/run.js';
import { explainLost, runningJobs } from '../../src/query/waiting.js';
import { keys } from '../../src/store/keys.js';
import { Heartbeats, type JobLock } from '../../src/store/heartbeats.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { stepRecord } from '../helpers/records.js';
import { killAllWorkerProcesses, startWorkerProcess } from '../helpers/worker-process.js';

const rec = (stepId: string, status: StepRecord['status'], agent: string | null = 'a'): StepRecord => stepRecord(stepId, status, { agent, attempts: 1 });

describe('explainLost', () => {
  const now = Date.parse('2026-01-01T00:00:00.000Z');
  const lock = (process: JobLock['process'], ttlMs = 4_000): JobLock => ({ worker: 'w1', process, ttlMs });
  const running = (l: JobLock | null) => ({ lock: l, status: 'running' as const });

  it('says a running step whose process stopped beating, or whose lock expired, waits for its worker to be replaced', () => {
    const steps = [
      rec('alive', 'running'),
      rec('silent', 'running'),
      rec('expired', 'running'),
      rec('unknown', 'running'),
      rec('engine', 'running', null),
      rec('done', 'succeeded'),
    ];
    const locks = new Map([
      ['alive', running(lock({ id: 'p-alive', lastBeat: now - 1_000, liveMs: 15_000 }))],
      ['silent', running(lock({ id: 'p-dead', lastBeat: now - 16_000, liveMs: 15_000 }))],
      ['expired', running(null)],
      // A worker no beat names yet (a process just started): not said to be lost.
      ['unknown', running(lock(null))],
      ['engine', running(null)],
    ]);
    const why = explainLost(steps, { locks, served: new Set(['agent.a']), stalledIntervalMs: 10_000, now });
    expect(Object.fromEntries(why)).toEqual({
      silent: { reason: 'worker_lost', queue: 'agent.a', worker: 'p-dead', until: '2026-01-01T00:00:14.000Z' },
      expired: { reason: 'worker_lost', queue: 'agent.a', worker: null, until: '2026-01-01T00:00:10.000Z' },
      // No live worker serves the engine's own queue here: it goes on once one does.
      engine: { reason: 'worker_lost', queue: 'control', worker: null, until: null },
    });
  });

  it('does not call a step lost that finished between the read of the run and the read of its lock (its lock was released)', () => {
    const steps = [rec('finished', 'running'), rec('failed', 'running')];
    const locks = new Map([
      ['finished', { lock: null, status: 'succeeded' as const }],
      ['failed', { lock: null, status: 'failed' as const }],
    ]);
    expect(explainLost(steps, { locks, served: new Set(['agent.a']), stalledIntervalMs: 10_000, now }).size).toBe(0);
  });

  it('judges each process by its own heartbeat: a slow beater silent for 16 s is not lost', () => {
    const locks = new Map([['slow', running(lock({ id: 'p-slow', lastBeat: now - 16_000, liveMs: 60_000 }))]]);
    expect(explainLost([rec('slow', 'running')], { locks, served: new Set(['agent.a']), stalledIntervalMs: 10_000, now }).size).toBe(0);
  });

  it('looks only at running steps, by their job ids', () => {
    expect(runningJobs([rec('x', 'running'), rec('y', 'pending'), rec('z', 'running', null)])).toEqual([
      { runId: 'r', stepId: 'x', queue: 'agent.a', jobId: 'r.x' },
      { runId: 'r', stepId: 'z', queue: 'control', jobId: 'r.z' },
    ]);
  });
});

/** Short settings: a process silent for 3 × 500 ms is lost; a lock lasts 6 s; checks every second. */
const HEARTBEAT_MS = 500;
const STALLED = { lockDuration: 6_000, stalledInterval: 1_000 };
const AGENTS = { hang: { provider: 'echo', echo: { latencyMs: 60_000 }, attempts: 3 } };

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'worker-lost',
    agents: AGENTS,
    pools: false,
    env: {
      SWITCHYARD_HEARTBEAT_MS: String(HEARTBEAT_MS),
      SWITCHYARD_LOCK_DURATION_MS: String(STALLED.lockDuration),
      SWITCHYARD_STALLED_INTERVAL_MS: String(STALLED.stalledInterval),
    },
  });
});

afterAll(async () => {
  await killAllWorkerProcesses();
  await h?.close();
  assertAllClosed();
});

describe('a worker process killed mid-step', () => {
  it('shows worker_lost as soon as its heartbeat expires, and the step goes on by the time it says', { timeout: 30_000 }, async () => {
    const worker = await startWorkerProcess({ prefix: h.prefix, agents: AGENTS, stalled: STALLED, heartbeatMs: HEARTBEAT_MS });
    const id = (await h.request('POST', '/v1/runs', { agent: 'hang', input: { task: 'hang on' } })).body.id as string;
    await h.waitUntil(id, (r) => r.steps[0]!.status === 'running');
    const stepView = async () => (await h.request('GET', `/v1/runs/${id}`)).body.steps[0];
    // Running in a live worker: nothing to wait for.
    expect((await stepView()).waitingFor).toBeUndefined();

    await worker.kill();
    // Another worker serves the queue (and answers at once): it is the one to take the step over.
    const instant: Provider = {
      name: 'echo',
      complete: async () => ({ text: 'answered', usage: { inputTokens: 1, outputTokens: 1 }, model: 'echo', stopReason: 'end_turn' }),
    };
    const pools = await startWorkerPools(h.system, { providerFor: () => instant });
    try {
      const lost = await poll('worker_lost', stepView, (s) => s.waitingFor?.reason === 'worker_lost' || s.status !== 'running', {
        timeoutMs: 10_000,
        intervalMs: 50,
      });
      const seenAt = Date.now();
      // Seen from the heartbeat while the dead worker's lock still held: the process is named.
      expect(lost).toMatchObject({
        status: 'running',
        waitingFor: { reason: 'worker_lost', queue: 'agent.hang', worker: expect.stringContaining(`-${worker.proc.pid}-`) },
      });
      const until = Date.parse(lost.waitingFor.until);
      expect(until).toBeGreaterThan(seenAt - 1_000);
      expect(until).toBeLessThanOrEqual(seenAt + STALLED.lockDuration + STALLED.stalledInterval);

      const run = await h.waitForRun(id, 15_000);
      expect(run.status).toBe('succeeded');
      expect(run.steps[0]).toMatchObject({ status: 'succeeded', attempts: 2, recovered: true, output: 'answered' });
      // It went on by the time it said (the check's own round trip aside).
      const restarted = (await h.system.engine.store.events.read(h.system.scope(), id)).find((e) => e.type === 'step.started' && e.data?.recovered === true)!;
      expect(Date.parse(restarted.at)).toBeLessThanOrEqual(until + 1_000);
    } finally {
      await pools.close(5_000);
    }
  });
});

describe('the worker registry', () => {
  const registry = (heartbeatMs: number) => new Heartbeats({ redis: h.system.api.redis, cell: h.system.cell, queue: () => undefined, heartbeatMs });

  it("judges each process by the interval written in its own beat, not by the reader's", async () => {
    const fast = registry(100);
    const slow = registry(10_000);
    await fast.beat('p-fast', ['agent.fast']);
    await slow.beat('p-slow', ['agent.slow']);
    try {
      // Read as of a moment both are silent for more than three of the fast process's beats, far less than three of the slow one's.
      const later = Date.now() + 600;
      for (const reader of [registry(100), registry(5_000)]) {
        const live = await reader.liveQueues(later);
        expect(live.has('agent.fast'), `read with ${reader.heartbeatMs} ms`).toBe(false);
        expect(live.has('agent.slow'), `read with ${reader.heartbeatMs} ms`).toBe(true);
      }
      // A fast beater forgets only what is long gone by its own interval: the slow process stays.
      await fast.beat('p-fast', ['agent.fast']);
      expect([...(await registry(5_000).liveQueues())].sort()).toEqual(['agent.fast', 'agent.slow']);
    } finally {
      await fast.leave('p-fast');
      await slow.leave('p-slow');
    }
  });

  it("reads each running step's status with its lock, in one round trip", async () => {
    const redis = h.system.api.redis;
    await redis.hset(keys.step(h.system.scope(), 'run_0lockread', 'done'), 'status', JSON.stringify('succeeded'));
    await redis.hset(keys.step(h.system.scope(), 'run_0lockread', 'busy'), 'status', JSON.stringify('running'));
    await redis.set(keys.jobLock(h.system.cell, 'agent.hang', 'run_0lockread.busy'), 'w-gone:1', 'PX', 5_000);
    const read = await registry(500).jobLocks(h.system.scope(), [
      { runId: 'run_0lockread', stepId: 'done', queue: 'agent.hang', jobId: 'run_0lockread.done' },
      { runId: 'run_0lockread', stepId: 'busy', queue: 'agent.hang', jobId: 'run_0lockread.busy' },
    ]);
    expect(read[0]).toEqual({ lock: null, status: 'succeeded' });
    expect(read[1]).toMatchObject({ lock: { worker: 'w-gone', process: null }, status: 'running' });
  });
});
