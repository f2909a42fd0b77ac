/**
 * How a provider's "slow down" pauses a model, as pure functions (tested without Redis).
 *
 * A 429 or an overload pauses the model for every process until its Retry-After, but never
 * longer than the pause cap (`SWITCHYARD_MAX_PAUSE_MS`, default 5 minutes): a pause that was
 * capped ends with one probe call that decides whether it goes on. A spent quota is not a rate
 * limit: the provider says so (OpenAI `insufficient_quota`, Anthropic `billing_error`: classify
 * gives QuotaExhaustedError), or answers 429 with a Retry-After beyond the cap (a monthly spend
 * limit answers with days). Its call goes to a fallback model or its step fails at once; the
 * model is paused for the cap (or until the provider said it recovers, when sooner), then
 * probed, and an admin can lift the pause (`POST /v1/limits/:scope/resume`).
 */
import { QuotaExhaustedError, QuotaRefusedError, RateLimitedError, RetryableError } from '../../errors/index.js';
import type { CapacityHeaders } from '../rate-headers.js';
import type { CallOutcome, PauseOutcome, QuotaPause } from './limiter.js';

/** The longest pause, by default (a rate limit's Retry-After beyond it is a spent quota). */
export const DEFAULT_MAX_PAUSE_MS = 5 * 60_000;

/** Most characters of a provider's quota message kept with the pause. */
const MAX_QUOTA_MESSAGE = 500;

/** The pause of an answer whose Retry-After said 0 (classify gives 1 s when there is none). */
const ZERO_RETRY_AFTER_PAUSE_MS = 5000;

/**
 * The error a call ends with when it is a spent quota: `err` itself, or a 429 whose Retry-After
 * is beyond `maxPauseMs` (it recovers when the Retry-After said, counted from when the answer
 * was read); undefined when it is not one.
 */
export function asQuotaExhausted(err: unknown, maxPauseMs: number): QuotaExhaustedError | undefined {
  if (err instanceof QuotaExhaustedError) return err;
  if (err instanceof RateLimitedError && err.status === 429 && err.retryAfterMs > maxPauseMs) {
    return new QuotaExhaustedError(
      `${err.message} (its Retry-After, ${duration(err.retryAfterMs)}, is beyond the ${duration(maxPauseMs)} a rate limit is waited out: a spent quota)`,
      429,
      err.since + err.retryAfterMs,
      { cause: err },
    );
  }
  return undefined;
}

/** A pause of `ms` (from `now`), capped at `maxPauseMs`: a capped one ends with a probe. */
export function cappedPause(ms: number, maxPauseMs: number, now = Date.now()): PauseOutcome {
  return ms > maxPauseMs ? { pauseUntil: now + maxPauseMs, pauseKind: 'capped' } : { pauseUntil: now + ms };
}

/** What a failed call's error says of the provider's health, and how it pauses the model. */
export function outcomeOf(err: unknown, maxPauseMs: number, now = Date.now()): CallOutcome {
  if (err instanceof QuotaExhaustedError) {
    const until = err.recoversAt !== undefined ? Math.min(Math.max(err.recoversAt, now + 1), now + maxPauseMs) : now + maxPauseMs;
    // The provider's message is kept (bounded) for the calls refused after it, /readyz and the log.
    return {
      result: 'neutral',
      pauseUntil: until,
      pauseKind: 'quota',
      quota: { message: err.message.slice(0, MAX_QUOTA_MESSAGE), recoversAt: err.recoversAt },
    };
  }
  if (err instanceof RateLimitedError) {
    const pause = cappedPause(err.retryAfterMs || ZERO_RETRY_AFTER_PAUSE_MS, maxPauseMs, now);
    // An overloaded provider (Anthropic 529) is unwell; a 429 only says slow down.
    return err.status === 529 ? { result: 'failure', ...pause } : { result: 'neutral', ...pause };
  }
  // 5xx, timeouts, connection errors say the provider is unwell; a cancellation or a bad request says nothing of it.
  return err instanceof RetryableError ? { result: 'failure' } : { result: 'neutral' };
}

/**
 * When an answer's rate-limit headers say the next call like this one would be refused (no
 * request left, or fewer tokens than this call's reservation), the pause until its window
 * reopens (capped).
 */
export function spentPause(capacity: CapacityHeaders | undefined, tokens: number, maxPauseMs: number, now = Date.now()): PauseOutcome | undefined {
  const until = spentUntil(capacity, tokens, now);
  return until === undefined ? undefined : cappedPause(until - now, maxPauseMs, now);
}

/** The time the window of an answer's rate-limit headers reopens, when they say its capacity is spent. */
export function spentUntil(capacity: CapacityHeaders | undefined, tokens: number, now = Date.now()): number | undefined {
  if (!capacity) return undefined;
  const waits: number[] = [];
  if (capacity.remainingRequests !== undefined && capacity.remainingRequests <= 0) waits.push(capacity.requestsResetMs ?? 1000);
  if (capacity.remainingTokens !== undefined && capacity.remainingTokens < tokens) waits.push(capacity.tokensResetMs ?? 1000);
  return waits.length ? now + Math.max(...waits) : undefined;
}

/** The error of a call the limiter refused (nothing sent) because its scope is paused for a spent quota. */
export function quotaRefusal(scope: string, q: QuotaPause): QuotaRefusedError {
  return new QuotaRefusedError(quotaMessage(scope, q), 429, q.recoversAt);
}

/** The error a call that found the quota spent ends with: what the provider said (its answer kept as the cause), and when it may recover. */
export function quotaFound(scope: string, err: QuotaExhaustedError, pausedUntil: number): QuotaExhaustedError {
  return new QuotaExhaustedError(quotaMessage(scope, { message: err.message, recoversAt: err.recoversAt, pausedUntil }), 429, err.recoversAt, { cause: err });
}

function quotaMessage(scope: string, q: QuotaPause): string {
  const recovers =
    q.recoversAt !== undefined ? `the provider said it may recover at ${new Date(q.recoversAt).toISOString()}` : 'the provider did not say when it recovers';
  return `quota exhausted (quota_exhausted) on ${scope}: ${q.message}; ${recovers}. Not retried: calls to ${scope} are refused until ${new Date(q.pausedUntil).toISOString()}, then one probe call decides; an admin lifts the pause with POST /v1/limits/${encodeURIComponent(scope)}/resume`;
}

/** `ms` for a person: 3 d 0 h, 5 min, 12 s. */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}
