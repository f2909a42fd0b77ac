/**
 * Control-flow errors. The *class* of an error tells the caller what to do with it
 * (retry, wait, give up, answer 4xx); code branches on `instanceof`, never on message text.
 */

/** Base class: every error Switchyard raises on purpose. */
export class SwitchyardError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A provider call that may succeed if tried again later (5xx, network error, timeout). */
export class RetryableError extends SwitchyardError {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The step exceeded its `timeoutMs`; the provider call was aborted. Retryable. */
export class StepTimeoutError extends RetryableError {
  constructor(readonly timeoutMs: number) {
    super(`step timed out after ${timeoutMs} ms`);
  }
}

/** The provider asked us to slow down (429, 529 overloaded). Does not burn an attempt. */
export class RateLimitedError extends SwitchyardError {
  constructor(
    message: string,
    /** How long to wait before the next request, from Retry-After when the provider sent it. */
    readonly retryAfterMs: number,
    readonly status?: number,
    options?: { cause?: unknown; since?: number },
  ) {
    super(message, options);
    this.since = options?.since ?? Date.now();
  }

  /** The clock reading `retryAfterMs` counts from (when the provider's answer was read). */
  readonly since: number;
}

/** Trying again cannot help (bad request, auth error, unknown model...). */
export class NonRetryableError extends SwitchyardError {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The prompt (with maxTokens) does not fit the model's context window: shorten it or lower maxTokens. Not retried. */
export class ContextLengthError extends NonRetryableError {}

/** The work was cancelled (run cancelled, process shutting down). */
export class CancelledError extends SwitchyardError {}

/**
 * This worker no longer holds the step's current attempt (its lock was lost and another
 * worker took the step over): it must stop without writing anything more.
 */
export class StaleAttemptError extends SwitchyardError {}

/** One problem with user input, located by a path such as `steps[2].dependsOn[0]` and, in a file, by its line and column (1-based). */
export interface Issue {
  path: string;
  message: string;
  line?: number;
  col?: number;
}

/** A zod issue, structurally (this module does not depend on zod). */
export interface ZodLikeIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * zod issues as Issues: path segments joined with ".", under `root` when given (empty
 * segments are left out); an issue about the value itself gets the path `emptyPath`.
 */
export function issuesFromZod(issues: readonly ZodLikeIssue[], options: { root?: string; emptyPath?: string } = {}): Issue[] {
  const { root = '', emptyPath = '' } = options;
  return issues.map((i) => ({ path: [root, ...i.path.map(String)].filter(Boolean).join('.') || emptyPath, message: i.message }));
}

/** User input (a request body, a workflow, a config file) is invalid. */
export class ValidationError extends SwitchyardError {
  constructor(
    message: string,
    readonly issues: Issue[] = [],
  ) {
    super(message);
  }
}

/** Configuration (environment, agents file, flows directory) is invalid; fatal at start-up. */
export class ConfigError extends ValidationError {}

/** Something named by the caller does not exist (run, workflow, schedule). */
export class NotFoundError extends SwitchyardError {}

/** The request conflicts with the current state (cancelling a finished run...). */
export class ConflictError extends SwitchyardError {}

/**
 * A dependency needed to answer (e.g. MongoDB for archived runs) cannot be reached now, or a
 * capacity is spent: an expected refusal (503), not a bug. `kind` names it in the logs, where
 * refusals of one kind are counted rather than each logged.
 */
export class UnavailableError extends SwitchyardError {
  constructor(
    message: string,
    readonly kind: 'redis_unreachable' | 'archive_unreachable' | 'event_stream_cap' | 'schema_busy' | 'unavailable' = 'unavailable',
  ) {
    super(message);
  }
}

/**
 * A process cannot start: something it needs is not there (Redis does not answer, the port is
 * taken). The process prints the message, one line, and exits with `exitCode`.
 */
export class StartupError extends SwitchyardError {
  constructor(
    message: string,
    /** sysexits: 69 (EX_UNAVAILABLE) by default. */
    readonly exitCode = 69,
  ) {
    super(message);
  }
}

/** Normalise anything thrown into an Error. */
export function toError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : JSON.stringify(err));
}

/**
 * A provider call could not be admitted now (a shared limit, a pause after a 429, an open
 * circuit): the step waits `waitMs` without a worker slot and without using an attempt.
 */
export class CapacityWaitError extends SwitchyardError {
  constructor(
    message: string,
    readonly waitMs: number,
    /** Which limit: rpm, tpm, maxConcurrent, paused, circuit open... */
    readonly limit: string,
  ) {
    super(message);
  }
}

/** A provider call would pass its run's budget: it is not made, and the run halts `budget_exceeded`. */
export class BudgetExceededError extends SwitchyardError {}

/**
 * A run is submitted while a spend envelope (its workspace's or its key's) has spent its day:
 * refused (429) until the envelope's day ends, `retryAfterMs` from now.
 */
export class EnvelopeSpentError extends SwitchyardError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** A call that can never fit a limit (more tokens than a whole minute's tpm): not retried, but a fallback model may take it. */
export class TooLargeForLimitError extends NonRetryableError {}

/**
 * The provider's quota is spent (OpenAI `insufficient_quota`, Anthropic `billing_error`, or a
 * 429 whose Retry-After is beyond the pause cap, as a monthly spend limit answers): not a rate
 * limit to wait out. The call goes to a fallback model, or its step fails at once with code
 * `quota_exhausted` (not retried).
 */
export class QuotaExhaustedError extends NonRetryableError {
  readonly code = 'quota_exhausted';
  constructor(
    message: string,
    status?: number,
    /** When the provider said the quota may recover (ms since the epoch), if it said. */
    readonly recoversAt?: number,
    options?: { cause?: unknown },
  ) {
    super(message, status, options);
  }
}

/** The limiter refused a call because its scope is paused for a spent quota: nothing was sent to the provider. */
export class QuotaRefusedError extends QuotaExhaustedError {}
