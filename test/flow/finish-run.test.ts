/**
 * What "lost" means, stated once (without Redis): a step recorded live whose job BullMQ is done
 * with. And the one finisher of runs, on a stored run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTO_ENDING, finishRun, isLost, markLost, stepFailedEnding } from '../../src/flow/finish-run.js';
import { LIVE_STEP_STATUSES, LOST_STEP_ERROR, type StepStatus } from '../../src/model/run.js';
import { agentQueueName } from '../../src/store/keys.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

const ENDED: StepStatus[] = ['succeeded', 'failed', 'skipped', 'cancelled'];

describe('isLost', () => {
  it('a live step whose job is done, failed or gone is lost', () => {
    for (const status of LIVE_STEP_STATUSES) for (const job of ['done', 'failed', 'unknown'] as const) expect(isLost(status, job)).toBe(true);
  });

  it('a live step whose job may still report is not', () => {
    for (const status of LIVE_STEP_STATUSES)
      for (const job of ['waiting', 'delayed', 'active', 'prioritized', 'waiting-children', 'completed'] as const) expect(isLost(status, job)).toBe(false);
  });

  it('a step that has ended is never lost, whatever its job', () => {
    for (const status of ENDED) for (const job of ['done', 'failed', 'unknown', 'active'] as const) expect(isLost(status, job)).toBe(false);
  });
});

describe('stepFailedEnding', () => {
  it('halts the run failed, naming the step and its error', () => {
    expect(stepFailedEnding('review', 'HTTP 400')).toEqual({
      how: 'halt',
      status: 'failed',
      error: 'step "review" failed: HTTP 400',
      reason: 'step "review" failed',
    });
  });
});

describe('finishRun and markLost, on a stored run (no workers: its steps stay pending)', () => {
  let h: Harness;
  const workflow = {
    name: 'pair',
    steps: [
      { id: 'a', agent: 'e', input: { task: 'a' } },
      { id: 'b', agent: 'e', optional: true, input: { task: 'b' } },
    ],
  };
  beforeAll(async () => {
    h = await startHarness({ name: 'finish-run', agents: { e: { provider: 'echo' } }, workflows: [workflow], pools: false });
    // Without workers nothing else waits for Redis: the API answers 503 until its connection is up.
    await poll(
      'the API connection',
      () => h.system.ping(),
      (up) => up,
    );
  });
  afterAll(async () => {
    await h?.close();
    assertAllClosed();
  });
  const submit = async () => {
    const res = await h.request('POST', '/v1/runs', { workflow: 'pair', input: {} });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body.id as string;
  };

  it('the first ending wins; a later one is told the status in force; the step jobs of a halted run leave their queue', async () => {
    const id = await submit();
    const scope = h.system.scope();
    const halted = await finishRun(h.system.engine, scope, id, { how: 'halt', status: 'cancelled', reason: 'run cancelled' });
    expect(halted).toEqual({ applied: true, status: 'cancelled' });
    expect(await finishRun(h.system.engine, scope, id, AUTO_ENDING)).toEqual({ applied: false, status: 'cancelled' });
    const run = await h.waitForRun(id);
    expect(run.steps.map((s) => s.status)).toEqual(['cancelled', 'cancelled']);
    // Drained: its step jobs left their queue (its root job waits for a run worker, none here).
    await poll(
      'its step jobs to leave their queue',
      async () =>
        (await h.system.queue(agentQueueName('e')).getJobs(['waiting', 'delayed', 'prioritized'], 0, -1)).filter((j) => j?.id?.startsWith(`${id}.`)).length,
      (n) => n === 0,
    );
    expect(await finishRun(h.system.engine, scope, 'run_none', AUTO_ENDING)).toEqual({ applied: false, status: 'missing' });
  });

  it('a lost optional step is recorded failed and leaves its run alone; a lost required one fails its run', async () => {
    const id = await submit();
    const scope = h.system.scope();
    expect(await markLost(h.system.engine, scope, id, { stepId: 'b', optional: true })).toBe('failed');
    expect((await h.system.engine.store.records.status(scope, id)) ?? 'missing').toBe('queued');
    expect(await markLost(h.system.engine, scope, id, { stepId: 'a', optional: false })).toBe('failed');
    const run = await h.waitForRun(id);
    expect(run).toMatchObject({ status: 'failed', error: `step "a" failed: ${LOST_STEP_ERROR}` });
    expect(run.steps.map((s) => [s.stepId, s.status])).toEqual([
      ['a', 'failed'],
      ['b', 'failed'],
    ]);
  });
});
