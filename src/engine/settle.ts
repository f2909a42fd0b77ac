/**
 * The step machine's second decision, as a pure function: what one segment of a step's work
 * came to (an outcome, or the error it threw) → what the delivery does next. No I/O: the
 * machine runs the work, asks `settle`, then records the action (record.ts) and maps what it
 * recorded to BullMQ (to-bullmq.ts). `decide` (decide.ts) is its twin before the work.
 *
 * Errors map by class (ADR 003): the run ended or the step was cancelled → abandon; a spent
 * budget → halt the run; no capacity in the shared limiter → retry later, the attempt given
 * back; a provider's 429 → pause the queue, the attempt given back; not retryable or out of
 * attempts → fail; anything else → retry after the step's backoff.
 */
import {
  BudgetExceededError,
  CancelledError,
  CapacityWaitError,
  NonRetryableError,
  RateLimitedError,
  StaleAttemptError,
  StepTimeoutError,
  ValidationError,
} from '../errors/index.js';
import type { StepOutcome } from '../kinds/executor.js';
import type { StepStatus } from '../model/run.js';
import type { StepTransition } from '../store/scripts/index.js';
import { retryDelayMs } from './backoff.js';
import { outputTooLarge } from './output-bound.js';

export type Succeeded = Extract<StepOutcome, { type: 'succeeded' }>;

/** What the work came to: its outcome, or the error it threw. */
export type WorkResult = { outcome: StepOutcome } | WorkError;

export interface WorkError {
  error: Error;
  /** The delivery's signal fired (BullMQ cancelled the job, or the run's cancel reached it). */
  aborted: boolean;
  /**
   * Its run has ended or the step itself has (read only when `mayHaveEnded` says so), and
   * the step's status then (`missing`: its run is gone).
   */
  ended?: { stepStatus: StepStatus | 'missing' };
}

export interface SettlePolicy {
  /** Most attempts the step may make (its job's `attempts`). */
  maxAttempts: number;
  /** BullMQ's count of this job's failed deliveries (one that failed before an attempt started counts too). */
  attemptsMade: number;
  /** The job's backoff (as flow-builder writes it). */
  backoff: unknown;
  /** The longest a 429 pauses the agent's queue. */
  maxPauseMs: number;
  /** The most bytes an output may take to be stored. */
  maxOutputBytes: number;
  /** The backoff's jitter. @default Math.random */
  random?: () => number;
}

/** The change a retry records (running → retrying). */
export type RetryChange = Pick<StepTransition, 'attemptsDelta' | 'fields' | 'event'>;

export type Action =
  /** Record the result; the job completes. */
  | { action: 'succeed'; outcome: Succeeded }
  /** running → skipped; with `stopRun`, the run ends early (succeeded). */
  | { action: 'skip'; reason: string; stopRun: boolean }
  /** running → waiting until `untilMs` (Infinity: until woken); the job sleeps in the delayed set. */
  | { action: 'sleep'; reason: string; untilMs: number; details?: Record<string, unknown> }
  /** running → waiting for the steps it added; the job parks in waiting-children. */
  | { action: 'park' }
  /** running → retrying until `retryAt` (epoch ms); the job sleeps in the delayed set. */
  | { action: 'retry'; retryAt: number; change: RetryChange; cause: { capacity: CapacityWaitError } | { error: Error } }
  /** A provider's 429: running → retrying, the attempt given back; the whole queue waits `pauseMs`. */
  | { action: 'rate-limit'; pauseMs: number; error: RateLimitedError }
  /** The step fails for good (and a required one fails its run). */
  | { action: 'fail'; error: Error }
  /** Its run ended, or the step was cancelled (`stepStatus`: as read): keep what it paid, release its holds; nothing else to record. */
  | { action: 'abandon'; stepStatus: StepStatus | 'missing' }
  /** The run's budget is spent (the call was not made): the run halts `budget_exceeded`. */
  | { action: 'halt'; reason: string }
  /** Another worker runs the step now: leave its record alone; the delivery fails with `error`. */
  | { action: 'stale'; error: StaleAttemptError };

/**
 * Whether an error may mean its run ended or the step was cancelled: the machine then reads
 * the run's and the step's status (`WorkResult.ended`) before it settles.
 */
export function mayHaveEnded(error: Error, aborted: boolean): boolean {
  return error instanceof CancelledError || error instanceof StaleAttemptError || (aborted && !(error instanceof StepTimeoutError));
}

/** What to do after a segment of work on attempt `attempt`, at `now` (epoch ms). */
export function settle(result: WorkResult, attempt: number, policy: SettlePolicy, now: number): Action {
  if ('outcome' in result) return settleOutcome(result.outcome, policy);
  const { error } = result;
  if (result.ended && mayHaveEnded(error, result.aborted)) return { action: 'abandon', stepStatus: result.ended.stepStatus };
  if (error instanceof StaleAttemptError) return { action: 'stale', error };
  if (error instanceof BudgetExceededError) return { action: 'halt', reason: error.message };
  if (error instanceof CapacityWaitError) {
    // Nothing was called: the attempt is given back.
    const retryAt = now + error.waitMs;
    const at = new Date(retryAt).toISOString();
    return {
      action: 'retry',
      retryAt,
      change: {
        attemptsDelta: -1,
        fields: { reason: error.message, retryAt: at },
        event: { type: 'step.retrying', data: { reason: 'capacity', detail: error.message, retryAt: at } },
      },
      cause: { capacity: error },
    };
  }
  // A longer Retry-After was a spent quota (see src/calls/admission/pause.ts): the queue waits at most the cap.
  if (error instanceof RateLimitedError) return { action: 'rate-limit', pauseMs: Math.min(error.retryAfterMs, policy.maxPauseMs), error };
  // The last attempt by the step's count or by BullMQ's.
  const last = attempt >= policy.maxAttempts || policy.attemptsMade + 1 >= policy.maxAttempts;
  if (error instanceof NonRetryableError || error instanceof ValidationError || last) return { action: 'fail', error };
  // The backoff is waited out by the machine (not by BullMQ), so the step says when it goes on.
  const retryAt = now + retryDelayMs(policy.backoff, attempt, policy.random);
  const at = new Date(retryAt).toISOString();
  return {
    action: 'retry',
    retryAt,
    change: { fields: { error: error.message, retryAt: at }, event: { type: 'step.retrying', data: { attempt, error: error.message, retryAt: at } } },
    cause: { error },
  };
}

function settleOutcome(outcome: StepOutcome, policy: SettlePolicy): Action {
  switch (outcome.type) {
    case 'succeeded': {
      // An output past SWITCHYARD_MAX_OUTPUT_BYTES is not stored: the step fails saying so.
      const tooLarge = outcome.reusedFrom ? undefined : outputTooLarge(outcome.output, policy.maxOutputBytes);
      return tooLarge ? { action: 'fail', error: new NonRetryableError(tooLarge) } : { action: 'succeed', outcome };
    }
    case 'skipped':
      return { action: 'skip', reason: outcome.reason, stopRun: outcome.stopRun === true };
    case 'sleep':
      return { action: 'sleep', reason: outcome.reason, untilMs: outcome.untilMs, ...(outcome.details ? { details: outcome.details } : {}) };
    case 'wait':
      return { action: 'park' };
  }
}
