/**
 * The record phase: an action `settle` (or `decide`) chose becomes the durable writes it needs
 * (writes.ts, through `src/store`), the run's ending when it ends one (flow/finish-run.ts), and
 * the Effect to apply to the job (to-bullmq.ts). A write that did not apply (the run ended, or
 * another worker took the step over) turns the effect into what that state calls for.
 */
import { finishRun, stepFailedEnding } from '../flow/finish-run.js';
import { deliveryHolds } from '../store/scripts/index.js';
import { LIVE_STEP_STATUSES, type StepStatus } from '../model/run.js';
import type { Delivery } from './delivery.js';
import type { Action, RetryChange } from './settle.js';
import type { Effect, Ending } from './to-bullmq.js';
import { keepPaid, recordResult, staleAttempt, transition } from './writes.js';
import { runBudgetWarningNotice } from '../webhooks/webhooks.js';

/** How long a step that sleeps with no deadline (an approval gate without timeoutMs) stays delayed: ten years. */
const FOREVER_MS = 10 * 365 * 24 * 3600_000;

const now = () => new Date().toISOString();

/** Record `action`; returns what its job does next. */
export async function record(d: Delivery, action: Action): Promise<Effect> {
  const { deps, scope, runId, attempt } = d;
  switch (action.action) {
    case 'succeed': {
      const recorded = await recordResult(d, action.outcome);
      if (!recorded.recorded) return complete(recorded.status);
      d.ended('succeeded');
      // Its usage reached 80% of a limit of the run's budget (once per run): the run's webhooks are told.
      if (recorded.budgetWarning) await deps.notify?.(scope, runBudgetWarningNotice(runId, recorded.budgetWarning));
      // The run has spent past its budget: it stops, keeping every output recorded.
      if (recorded.budgetExceeded && !d.standalone)
        await finishRun(deps, scope, runId, { how: 'halt', status: 'budget_exceeded', error: recorded.budgetExceeded, reason: recorded.budgetExceeded });
      // Recorded with its run's finish when standalone: only refs and joins are left to tell.
      return { bull: 'complete', status: 'succeeded', then: 'tell' };
    }
    case 'skip': {
      const { reason, stopRun } = action;
      const skipped = await transition(d, {
        from: ['running'],
        to: 'skipped',
        attempt,
        fields: { reason, finishedAt: now() },
        event: { type: 'step.skipped', data: { reason } },
      });
      if (!skipped.applied) return complete(skipped.status);
      if (stopRun) {
        const output = { stoppedEarly: { step: d.step.id, reason } };
        await finishRun(deps, scope, runId, { how: 'halt', status: 'succeeded', reason: `the run stopped early: ${reason}`, output });
      }
      return complete('skipped');
    }
    case 'sleep': {
      const { reason, untilMs, details } = action;
      const retryAt = Number.isFinite(untilMs) ? new Date(untilMs).toISOString() : null;
      const event = { type: 'step.waiting', data: { ...details, reason, ...(retryAt ? { until: retryAt } : {}) } } as const;
      const parked = await transition(d, { from: ['running'], to: 'waiting', attempt, fields: { reason, retryAt }, event });
      if (!parked.applied) return complete(parked.status);
      // An approval waiting for its decision: one event per gate (a gate put back to sleep is the same event).
      if (d.step.kind === 'approval')
        await deps.notify?.(scope, {
          id: `${runId}.${d.step.id}.step.waiting`,
          type: 'step.waiting',
          runId,
          stepId: d.step.id,
          data: { reason, until: retryAt },
        });
      // Its job sleeps in the delayed set (no worker slot) until then, or until promoted.
      return { bull: 'delay', untilMs: Number.isFinite(untilMs) ? untilMs : Date.now() + FOREVER_MS };
    }
    case 'park': {
      // Recorded first, so that a resumed delivery is told apart from a crashed one.
      const fields = { reason: 'waiting for the steps it added' };
      const parked = await transition(d, { from: ['running'], to: 'waiting', attempt, fields, event: { type: 'step.waiting' } });
      if (!parked.applied) return complete(parked.status);
      return { bull: 'wait-children' };
    }
    case 'retry':
      return retryLater(d, action.retryAt, action.change, () => {
        if ('capacity' in action.cause) {
          const { waitMs, limit, message } = action.cause.capacity;
          d.log().info({ waitMs, why: message }, 'step waits for provider capacity');
          deps.metrics?.limiterWait(d.step.agent, limit);
        } else {
          const { message } = action.cause.error;
          d.log().warn(
            { attempt, maxAttempts: d.maxAttempts, err: message, retryAt: new Date(action.retryAt).toISOString() },
            'step attempt failed; will retry',
          );
          d.ended('retrying');
        }
      });
    case 'rate-limit': {
      // The attempt is given back: a rate-limited call was never made.
      const { pauseMs, error } = action;
      await transition(d, {
        from: ['running'],
        to: 'retrying',
        attempt,
        attemptsDelta: -1,
        fields: { reason: `rate limited; retrying in ${pauseMs} ms` },
        event: { type: 'step.retrying', data: { reason: 'rate_limited', retryAfterMs: pauseMs } },
      });
      // The limiter logs the pause of the model once; this is one call of many.
      d.log().debug({ retryAfterMs: error.retryAfterMs }, 'provider rate limited; queue paused');
      deps.metrics?.providerRateLimited(d.step.agent);
      return { bull: 'rate-limit', pauseMs };
    }
    case 'fail':
      return failFinally(d, action.error);
    case 'abandon':
      await keepPaid(d);
      await deps.store.budgets.releaseHolds(scope, runId, deliveryHolds(d.step.id, attempt, action.stepStatus), d.log());
      return complete('cancelled');
    case 'halt':
      // The call was not made: the run stops here, keeping every output recorded (and what this step's earlier calls cost).
      await keepPaid(d);
      await finishRun(deps, scope, runId, { how: 'halt', status: 'budget_exceeded', error: action.reason, reason: action.reason });
      return complete('cancelled');
    case 'stale':
      // Another worker runs the step now: leave its record alone.
      return { bull: 'throw', error: action.error };
  }
}

/** The job completes with the step's status in force, after the full ending (see tellEnding). */
export function complete(status: StepStatus | 'missing'): Ending {
  return { bull: 'complete', status, then: 'end' };
}

/**
 * running → retrying (`change`), then the job sleeps in the delayed set until `retryAt`, holding
 * no worker slot; `parked` runs once the step says so. When the transition did not apply, its run
 * ended meanwhile (the step is cancelled) or another worker took it over.
 */
async function retryLater(d: Delivery, retryAt: number, change: RetryChange, parked: () => void): Promise<Ending> {
  const res = await transition(d, { from: ['running'], to: 'retrying', attempt: d.attempt, ...change });
  if (!res.applied) {
    if (res.status === 'running') return { bull: 'throw', error: staleAttempt(d, res) };
    await d.deps.store.budgets.releaseHolds(d.scope, d.runId, deliveryHolds(d.step.id, d.attempt, res.status), d.log());
    return complete('cancelled');
  }
  parked();
  return { bull: 'delay', untilMs: retryAt };
}

/** The step fails for good: recorded failed, and a required one fails its run. */
export async function failFinally(d: Delivery, err: Error): Promise<Ending> {
  const { step, attempt } = d;
  const failed = await transition(d, {
    from: LIVE_STEP_STATUSES,
    to: 'failed',
    attempt,
    fields: { error: err.message, errorClass: err.name, finishedAt: now() },
    event: { type: 'step.failed', data: { error: err.message, attempts: attempt } },
  });
  d.ended('failed');
  if (!failed.applied && failed.status === 'running') return { bull: 'throw', error: staleAttempt(d, failed) };
  // A halt that applies wakes every ref of the run, this step's among them.
  const halted = !step.optional && (await finishRun(d.deps, d.scope, d.runId, stepFailedEnding(step.id, err.message))).applied;
  d.log().warn({ err: err.message, optional: step.optional }, 'step failed');
  return { bull: 'fail', error: err, then: halted ? 'none' : 'end' };
}

/** The run's budget refused to start this step (maxSteps, its deadline): the run stops here, keeping every output recorded. */
export async function overBudget(d: Delivery, reason: string): Promise<Ending> {
  await finishRun(d.deps, d.scope, d.runId, { how: 'halt', status: 'budget_exceeded', error: reason, reason });
  return complete('cancelled');
}
