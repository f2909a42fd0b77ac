/**
 * Cancellation across processes: the API runs in this process (no worker pools here), the
 * steps run in a separate worker process (test/fixtures/worker-process.ts). A cancel from the
 * API must reach the provider call in the other process (the fake LLM server sees the request
 * aborted), end the run and its steps `cancelled`, and leave nothing live in BullMQ.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { startFakeLlmServer, type FakeLlmServer, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, liveJobsOf, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { unique } from '../helpers/redis.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

/** The same agents in both processes; `llm` takes one step at a time, so a second run queues. */
const AGENTS: Record<string, Record<string, unknown>> = {
  llm: { provider: 'openai', model: 'gpt-test', attempts: 1, concurrency: 1 },
  fast: { provider: 'echo', echo: { latencyMs: 20 }, attempts: 1 },
  /** Retries after a long fixed backoff: a failed attempt leaves its job delayed for 20 s. */
  patient: { provider: 'openai', model: 'gpt-test', attempts: 3, backoff: { type: 'fixed', delayMs: 20_000 } },
};

const WORKFLOWS = [
  {
    name: 'long-think',
    input: { topic: { type: 'string' } },
    steps: [
      {
        sequential: [
          { id: 'think', agent: 'llm', input: { task: 'Think hard about {{input.topic}} [[delay:20000]]' } },
          { id: 'summarize', agent: 'fast', input: { task: 'Summarize {{steps.think.output}}' } },
        ],
      },
    ],
  },
];

let fake: FakeLlmServer;
let h: Harness;
let child: WorkerProcess | undefined;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  // API only in this process: every step runs in the worker process.
  h = await startHarness({ name: 'runs-cancel', fake, agents: AGENTS, workflows: WORKFLOWS, pools: false });
  child = await startWorkerProcess({ prefix: h.prefix, agents: AGENTS, fake });
}, 30_000);

afterAll(async () => {
  if (child) {
    const { code } = await child.stop();
    expect(code, `worker process exit code; stderr:\n${child.stderr()}`).toBe(0);
  }
  await h?.close();
  await fake?.close();
  assertAllClosed();
}, 30_000);

// ---------------------------------------------------------------------------------------

const requestFor = (marker: string): RecordedRequest | undefined => fake.requests.find((r) => r.prompt.includes(marker));

const stepStatus = (run: RunView, id: string) => run.steps.find((s) => s.stepId === id)?.status;

/** Submit a long-thinking run and wait until its provider call is in flight in the worker process. */
async function startLongRun(marker: string): Promise<string> {
  const res = await h.request('POST', '/v1/runs', { workflow: 'long-think', input: { topic: marker } });
  expect(res.status).toBe(202);
  const id = res.body.id as string;
  await h.waitUntil(id, (r) => stepStatus(r, 'think') === 'running');
  await poll(
    `the provider request of ${marker}`,
    () => requestFor(marker),
    (r) => r !== undefined,
  );
  return id;
}

describe('cancelling a run from the API', () => {
  it('aborts the provider call running in another worker process and ends the run cancelled', async () => {
    const marker = unique('cancel-me');
    const id = await startLongRun(marker);
    expect(requestFor(marker)!.aborted).toBe(false);

    const res = await h.request('POST', `/v1/runs/${id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id, status: 'cancelled' });

    const run = await h.waitForRun(id);
    expect(run.status).toBe('cancelled');
    expect(stepStatus(run, 'think')).toBe('cancelled');
    const summarize = run.steps.find((s) => s.stepId === 'summarize')!;
    expect(summarize.status).toBe('cancelled');
    expect(summarize.startedAt).toBeNull();

    // The AbortSignal reached the HTTP call in the worker process.
    await poll(
      'the provider request to be aborted',
      () => requestFor(marker)!.aborted,
      (a) => a === true,
    );

    await expectNoLiveJobs(h.system, id);
    // The worker's late answer does not overwrite the cancellation.
    const after = await h.system.api.queries.get(h.system.scope(), id);
    expect(after.status).toBe('cancelled');
    expect(after.steps.map((s) => s.status)).toEqual(['cancelled', 'cancelled']);
    expect(fake.requests.filter((r) => r.prompt.includes(marker))).toHaveLength(1);
  });

  it('answers 409 to a second cancel', async () => {
    const id = await startLongRun(unique('cancel-twice'));
    expect((await h.request('POST', `/v1/runs/${id}/cancel`)).status).toBe(200);
    const second = await h.request('POST', `/v1/runs/${id}/cancel`);
    expect(second.status).toBe(409);
    expect(second.body.error.message).toContain('cancelled');
    expect((await h.waitForRun(id)).status).toBe('cancelled');
    await expectNoLiveJobs(h.system, id);
  });

  it('answers 404 for an unknown run', async () => {
    const res = await h.request('POST', '/v1/runs/run_doesnotexist/cancel');
    expect(res.status).toBe(404);
  });

  it('ends a queued run whose steps never started without any provider request', async () => {
    // `llm` runs one step at a time: while the blocker thinks, the second run waits in its queue.
    const blockerMarker = unique('blocker');
    const blocker = await startLongRun(blockerMarker);
    const queuedMarker = unique('never-called');
    const res = await h.request('POST', '/v1/runs', { workflow: 'long-think', input: { topic: queuedMarker } });
    expect(res.status).toBe(202);
    const queued = res.body.id as string;
    expect((await h.system.api.queries.get(h.system.scope(), queued)).status).toBe('queued');

    const cancel = await h.request('POST', `/v1/runs/${queued}/cancel`);
    expect(cancel.status).toBe(200);
    const run = await h.waitForRun(queued);
    expect(run.status).toBe('cancelled');
    for (const s of run.steps) {
      expect(s.status, s.stepId).toBe('cancelled');
      expect(s.startedAt, s.stepId).toBeNull();
      expect(s.attempts, s.stepId).toBe(0);
    }

    // Free the worker: it then meets the cancelled run's job and must not call the provider.
    expect((await h.request('POST', `/v1/runs/${blocker}/cancel`)).status).toBe(200);
    await poll(
      'the blocker request to be aborted',
      () => requestFor(blockerMarker)!.aborted,
      (a) => a === true,
    );
    await expectNoLiveJobs(h.system, blocker);
    await expectNoLiveJobs(h.system, queued);
    expect(requestFor(queuedMarker)).toBeUndefined();
    expect((await h.system.api.queries.get(h.system.scope(), queued)).steps.map((s) => s.status)).toEqual(['cancelled', 'cancelled']);
  });

  it('wakes a step waiting for its retry backoff, so nothing of the run is left in Redis', async () => {
    const marker = unique('retrying');
    const res = await h.request('POST', '/v1/runs', { agent: 'patient', input: { task: `${marker} [[fail-first:1:500]]` } });
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    await h.waitUntil(id, (r) => r.steps[0]!.status === 'retrying');
    // The failed attempt's job now sleeps in BullMQ's delayed set for the 20 s backoff.
    await poll(
      'the retry to be scheduled',
      () => liveJobsOf(h.system, id),
      (l) => l.some((j) => j.startsWith('agent.patient:')),
    );

    expect((await h.request('POST', `/v1/runs/${id}/cancel`)).status).toBe(200);
    const run = await h.waitForRun(id);
    expect(run.status).toBe('cancelled');
    expect(run.steps[0]!.status).toBe('cancelled');

    // Like its sleeping refs, a cancelled run's sleeping retries must drain at once, not after the backoff.
    await expectNoLiveJobs(h.system, id);
    expect(fake.requests.filter((r) => r.prompt.includes(marker))).toHaveLength(1);
  });
});
