/**
 * The one mapping from what a delivery recorded to BullMQ: complete (return the envelope),
 * sleep in the delayed set (`DelayedError`), wait out a queue-wide rate limit
 * (`RateLimitError`), park for the steps it added (`WaitingChildrenError`), fail for good
 * (`UnrecoverableError`), or fail this delivery (BullMQ delivers it again).
 */
import { DelayedError, RateLimitError, UnrecoverableError, WaitingChildrenError } from 'bullmq';
import type { StepStatus } from '../model/run.js';
import type { Delivery, StepEnvelope } from './delivery.js';
import { tellEnding } from './tell.js';

/**
 * What the job's ending tells others (tell.ts): `end`, all of it (its refs, its joins, a
 * single-step run ended); `tell`, its refs and joins only (the result's write ended the rest);
 * `none`, nothing (its run is gone, or the halt that ended it woke every ref).
 */
export type Then = 'end' | 'tell' | 'none';

export type Effect =
  /** The job completes with the step's status in force (`missing`: its run is gone). */
  | { bull: 'complete'; status: StepStatus | 'missing'; then: Then }
  /** The step failed for good: the job fails without a retry (`then`: as for complete). */
  | { bull: 'fail'; error: Error; then: Then }
  /** The job sleeps in the delayed set until `untilMs` (or until promoted), holding no worker slot. */
  | { bull: 'delay'; untilMs: number }
  /** The job goes back to its queue, which waits `pauseMs` (the attempt is not counted). */
  | { bull: 'rate-limit'; pauseMs: number }
  /** The job parks until the steps it added have finished; `resume` when they already have. */
  | { bull: 'wait-children' }
  /** This delivery fails (another worker runs the step, or a write could not be made); BullMQ decides what follows. */
  | { bull: 'throw'; error: Error };

/** An effect that ends the delivery (all but a park). */
export type Ending = Exclude<Effect, { bull: 'wait-children' }>;

/** Apply `effect` to the delivery's job: returns its envelope, `resume` (no children pending), or throws BullMQ's signal. */
export async function toBullMQ(d: Delivery, effect: Ending): Promise<StepEnvelope>;
export async function toBullMQ(d: Delivery, effect: Effect): Promise<StepEnvelope | 'resume'>;
export async function toBullMQ(d: Delivery, effect: Effect): Promise<StepEnvelope | 'resume'> {
  const { job, token } = d;
  switch (effect.bull) {
    case 'complete':
      await endJob(d, effect.status, effect.then);
      return d.envelope(effect.status === 'missing' ? 'cancelled' : effect.status);
    case 'fail':
      await endJob(d, 'failed', effect.then);
      throw new UnrecoverableError(effect.error.message);
    case 'delay':
      await job.moveToDelayed(effect.untilMs, token);
      throw new DelayedError();
    case 'rate-limit':
      await d.deps.queue.rateLimit(effect.pauseMs);
      throw new RateLimitError();
    case 'wait-children':
      if (await job.moveToWaitingChildren(token ?? '')) throw new WaitingChildrenError();
      return 'resume';
    case 'throw':
      throw effect.error;
  }
}

/**
 * Before a job ends: tell others (`then`). A job that added steps in this delivery and whose run
 * ended before it could park for them may still have pending children (added after the cancel
 * looked for them), and BullMQ refuses to finish a job with pending children: it parks for them
 * now (they end at once), then ends for good.
 */
async function endJob(d: Delivery, status: StepStatus | 'missing', then: Then): Promise<void> {
  if (then === 'none') return;
  if (then === 'end' && d.addedSteps && (await d.job.moveToWaitingChildren(d.token ?? ''))) throw new WaitingChildrenError();
  await tellEnding(d, status, then === 'end');
}
