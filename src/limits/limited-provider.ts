/**
 * A provider behind the limiter: each call reserves its estimated tokens (the prompt's, counted
 * for its model: src/providers/token-estimate.ts; plus `maxTokens` for the answer) against every limit
 * that applies, and settles after with the real usage. A call that cannot be admitted throws
 * CapacityWaitError (the step waits, without a worker slot or an attempt); a 429 or an
 * overload pauses the model for every process until its Retry-After; failures move the
 * circuit breaker when one is declared.
 */
import { CapacityWaitError, RateLimitedError, RetryableError, TooLargeForLimitError, toError } from '../errors/index.js';
import { abortReason } from '../providers/classify.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import { jittered } from './jitter.js';
import { CAPACITY_WAIT } from '../runs/types.js';
import { ProviderDecorator, type CompletionRequest, type CompletionResult, type Provider } from '../providers/provider.js';
import type { CapacityHeaders } from '../providers/rate-headers.js';
import { estimateInputTokens } from '../providers/token-estimate.js';
import { needsSettle, type CallOutcome, type CallTarget, type Limiter } from './limiter.js';

/** The tokens a request sends (counted for its model: see token-estimate) and may receive (its maxTokens). */
export function estimateCall(req: CompletionRequest): { inputTokens: number; outputTokens: number } {
  return { inputTokens: estimateInputTokens(req), outputTokens: req.maxTokens };
}

export function estimateTokens(req: CompletionRequest): number {
  const e = estimateCall(req);
  return e.inputTokens + e.outputTokens;
}

/** What a call's ending says of the provider's health, and whether it pauses the model. */
export function outcomeOf(err: unknown): CallOutcome {
  if (err instanceof RateLimitedError) {
    const pauseUntil = Date.now() + (err.retryAfterMs || ZERO_RETRY_AFTER_PAUSE_MS);
    // An overloaded provider (Anthropic 529) is unwell; a 429 only says slow down.
    return err.status === 529 ? { result: 'failure', pauseUntil } : { result: 'neutral', pauseUntil };
  }
  // 5xx, timeouts, connection errors say the provider is unwell; a cancellation or a bad request says nothing of it.
  return err instanceof RetryableError ? { result: 'failure' } : { result: 'neutral' };
}

/** The pause of an answer whose Retry-After said 0 (classify gives 1 s when there is none). */
const ZERO_RETRY_AFTER_PAUSE_MS = 5000;

/**
 * When an answer's rate-limit headers say the next call like this one would be refused (no
 * request left, or fewer tokens than this call's reservation), the time its window reopens.
 */
export function spentUntil(capacity: CapacityHeaders | undefined, tokens: number): number | undefined {
  if (!capacity) return undefined;
  const waits: number[] = [];
  if (capacity.remainingRequests !== undefined && capacity.remainingRequests <= 0) waits.push(capacity.requestsResetMs ?? 1000);
  if (capacity.remainingTokens !== undefined && capacity.remainingTokens < tokens) waits.push(capacity.tokensResetMs ?? 1000);
  return waits.length ? Date.now() + Math.max(...waits) : undefined;
}

const LEASE_MARGIN_MS = 5_000;
/** A wait for capacity this short is waited in the process (the worker slot held), at most MAX_INLINE_WAIT_MS in all. */
const SHORT_WAIT_MS = 250;
const MAX_INLINE_WAIT_MS = 1_000;
/** How early a step whose turn is booked comes back for it (less than SHORT_WAIT_MS). */
const TURN_LEAD_MS = 100;

export interface LimitedProviderOptions {
  limiter: Limiter;
  target: Omit<CallTarget, 'model'>;
  /** How long a call's concurrency lease lives if its worker is lost, when the request does not say (its agent's timeout). */
  leaseMs: number;
  logger: Logger;
  /** Told of each scope whose circuit a call opened (metrics). */
  onCircuitOpened?: (scope: string) => void;
  /**
   * Book a refused call's turn only when it is at most this far away (an agent's primary model
   * with fallbacks: `fallbackAfterMs`; a longer wait goes to a fallback, and a turn booked for it
   * would be held for nobody). Default: any.
   */
  bookWithinMs?: number;
}

export class LimitedProvider extends ProviderDecorator {
  constructor(
    inner: Provider,
    private readonly opts: LimitedProviderOptions,
  ) {
    super(inner);
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const { limiter, target, leaseMs, logger } = this.opts;
    const tokens = estimateTokens(req);
    // The lease outlives the call by a margin: the call is aborted at its step's timeout.
    const ask = () => limiter.acquire({ ...target, model: req.model }, tokens, (req.timeoutMs ?? leaseMs) + LEASE_MARGIN_MS, req.callKey, this.opts.bookWithinMs);
    let admission = await ask();
    // A short wait (its turn comes within a moment) is waited here, holding the worker slot that
    // briefly: a round through the delayed set would come back later than the turn.
    for (let waited = 0; !admission.granted && !admission.never && admission.waitMs <= SHORT_WAIT_MS && waited < MAX_INLINE_WAIT_MS; ) {
      await sleep(admission.waitMs, undefined, { signal: req.signal }).catch(() => undefined);
      if (req.signal.aborted) throw abortReason(req.signal);
      waited += admission.waitMs;
      admission = await ask();
    }
    if (!admission.granted) {
      const what = `${admission.scope} ${admission.why}`;
      if (admission.never) throw new TooLargeForLimitError(`the call needs about ${tokens} tokens (prompt and maxTokens), more than ${what} allows in a minute; lower maxTokens or shorten the input`);
      // A booked turn (limiter-acquire.lua) is come back to a little early (a delayed job comes
      // back some milliseconds late, more on a busy host) and waited for here, so the call goes
      // on its turn; the polls for calls at once or a half-open circuit are spread a little.
      const waitMs = admission.booked
        ? Math.max(0, admission.waitMs - TURN_LEAD_MS)
        : admission.why === 'maxConcurrent' || admission.why.startsWith('circuit half-open')
          ? jittered(admission.waitMs)
          : admission.waitMs;
      throw new CapacityWaitError(`${CAPACITY_WAIT}${what}`, waitMs, admission.why);
    }
    const { ticket } = admission;
    let outcome: CallOutcome = { result: 'neutral' };
    try {
      const res = await this.inner.complete(req);
      const pauseUntil = spentUntil(res.capacity, tokens);
      outcome = { result: 'ok', usedTokens: res.usage.inputTokens + res.usage.outputTokens, ...(pauseUntil ? { pauseUntil } : {}) };
      if (pauseUntil) logger.info({ model: req.model, until: new Date(pauseUntil).toISOString(), capacity: res.capacity }, 'the provider says its capacity is spent: the model is held back until it reopens');
      return res;
    } catch (err) {
      outcome = outcomeOf(err);
      throw err;
    } finally {
      // Never lose an answer to the limiter: a failed settle is logged (its lease expires by itself).
      if (needsSettle(ticket) || outcome.pauseUntil) {
        try {
          const opened = await limiter.settle(ticket, outcome);
          if (opened.length) logger.warn({ scopes: opened }, 'circuit opened: calls stop for the cool-down');
          for (const scope of opened) this.opts.onCircuitOpened?.(scope);
        } catch (err) {
          logger.warn({ err: toError(err).message }, 'could not settle a provider call with the limiter');
        }
      }
    }
  }
}
