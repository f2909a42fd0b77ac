/**
 * A provider behind the limiter: each call reserves its estimated tokens (the prompt's, counted
 * for its model: src/calls/token-estimate.ts; plus `maxTokens` for the answer) against every limit
 * that applies, and settles after with the real usage. A call that cannot be admitted throws
 * CapacityWaitError (the step waits, without a worker slot or an attempt); a 429 or an
 * overload pauses the model for every process until its Retry-After (at most `maxPauseMs`,
 * then one probe call decides); a spent quota fails the call at once with QuotaExhaustedError
 * (a fallback may take it) and pauses the model (see pause.ts); failures move the circuit
 * breaker when one is declared.
 */
import { CapacityWaitError, TooLargeForLimitError, toError } from '../../errors/index.js';
import { abortReason } from '../classify.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../logger.js';
import { jittered } from './jitter.js';
import { CAPACITY_WAIT } from '../../model/run.js';
import { ProviderDecorator, type CompletionRequest, type CompletionResult, type Provider } from '../provider.js';
import { estimateInputTokens } from '../token-estimate.js';
import { needsSettle, type CallOutcome, type CallTarget, type Limiter, type SettleReply } from './limiter.js';
import { DEFAULT_MAX_PAUSE_MS, asQuotaExhausted, duration, outcomeOf, quotaFound, quotaRefusal, spentPause } from './pause.js';

/** The tokens a request sends (counted for its model: see token-estimate) and may receive (its maxTokens). */
export function estimateCall(req: CompletionRequest): { inputTokens: number; outputTokens: number } {
  return { inputTokens: estimateInputTokens(req), outputTokens: req.maxTokens };
}

export function estimateTokens(req: CompletionRequest): number {
  const e = estimateCall(req);
  return e.inputTokens + e.outputTokens;
}

/** How long a lease outlives its call's timeout (the call is aborted at its step's timeout). */
export const LEASE_MARGIN_MS = 5_000;
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
  /** The longest pause after a 429 or an overload (a Retry-After beyond it is a spent quota). @default 5 minutes */
  maxPauseMs?: number;
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
    const maxPauseMs = this.opts.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS;
    const tokens = estimateTokens(req);
    // The lease outlives the call by a margin: the call is aborted at its step's timeout.
    const ask = () =>
      limiter.acquire({ ...target, model: req.model }, tokens, (req.timeoutMs ?? leaseMs) + LEASE_MARGIN_MS, req.callKey, this.opts.bookWithinMs, req.holder);
    let admission = await ask();
    // A short wait (its turn comes within a moment) is waited here, holding the worker slot that
    // briefly: a round through the delayed set would come back later than the turn.
    for (let waited = 0; !admission.granted && !admission.never && !admission.quota && admission.waitMs <= SHORT_WAIT_MS && waited < MAX_INLINE_WAIT_MS;) {
      await sleep(admission.waitMs, undefined, { signal: req.signal }).catch(() => undefined);
      if (req.signal.aborted) throw abortReason(req.signal);
      waited += admission.waitMs;
      admission = await ask();
    }
    if (!admission.granted) {
      // A spent quota is not waited for: the call goes to a fallback, or its step fails.
      if (admission.quota) throw quotaRefusal(admission.scope, admission.quota);
      const what = `${admission.scope} ${admission.why}`;
      if (admission.never)
        throw new TooLargeForLimitError(
          `the call needs about ${tokens} tokens (prompt and maxTokens), more than ${what} allows in a minute; lower maxTokens or shorten the input`,
        );
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
      const pause = spentPause(res.capacity, tokens, maxPauseMs);
      outcome = { result: 'ok', usedTokens: res.usage.inputTokens + res.usage.outputTokens, ...pause };
      if (pause) logger.debug({ model: req.model, capacity: res.capacity }, 'the provider says its capacity is spent: the model is held back until it reopens');
      return res;
    } catch (err) {
      const quota = asQuotaExhausted(err, maxPauseMs);
      outcome = outcomeOf(quota ?? err, maxPauseMs);
      throw quota ? quotaFound(ticket.scopes[1]!.id, quota, outcome.pauseUntil!) : err;
    } finally {
      // Never lose an answer to the limiter: a failed settle is logged (its lease expires by itself).
      if (needsSettle(ticket) || outcome.pauseUntil) {
        try {
          this.told(await limiter.settle(ticket, outcome), outcome);
        } catch (err) {
          logger.warn({ err: toError(err).message }, 'could not settle a provider call with the limiter');
        }
      }
    }
  }

  /** What a settle changed, said once (a pause is logged by the call that began it, not by every call it holds back). */
  private told(reply: SettleReply, outcome: CallOutcome): void {
    const { logger } = this.opts;
    if (reply.opened.length) logger.warn({ scopes: reply.opened }, 'circuit opened: calls stop for the cool-down');
    for (const scope of reply.opened) this.opts.onCircuitOpened?.(scope);
    if (reply.paused && outcome.pauseUntil) {
      const until = new Date(outcome.pauseUntil).toISOString();
      const lasts = duration(outcome.pauseUntil - Date.now());
      if (outcome.pauseKind === 'quota') {
        const recoversAt = outcome.quota?.recoversAt;
        logger.error(
          { scope: reply.paused, until, recoversAt: recoversAt ? new Date(recoversAt).toISOString() : null, provider: outcome.quota?.message },
          `quota exhausted: calls to ${reply.paused} are refused for ${lasts} (they go to fallbacks or fail), then one probe call decides; lift it with POST /v1/limits/${encodeURIComponent(reply.paused)}/resume`,
        );
      } else {
        logger.warn(
          { scope: reply.paused, until, capped: outcome.pauseKind === 'capped' },
          `provider asked to slow down: ${reply.paused} paused for ${lasts}${outcome.pauseKind === 'capped' ? ' (capped; then one probe call decides)' : ''}`,
        );
      }
    }
    if (reply.lifted) logger.info({ scope: reply.lifted }, 'pause lifted: the probe call answered');
  }
}
