/** What "lost" means, stated once, without Redis: a step recorded live whose job BullMQ is done with. */
import { describe, expect, it } from 'vitest';
import { isLost, stepFailedEnding } from '../../src/flow/finish-run.js';
import { LIVE_STEP_STATUSES, type StepStatus } from '../../src/model/run.js';

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
