/**
 * The shared limiter's part of admission: each call reserves its estimated tokens (the
 * prompt's, counted for its model, plus `maxTokens` for the answer) against every limit that
 * applies, and settles after with the real usage. A call that cannot go now waits (the step
 * waits, without a worker slot or an attempt); a 429 or an overload pauses the model for every
 * process until its Retry-After (at most `maxPauseMs`, then one probe call decides); a spent
 * quota refuses the call at once with QuotaExhaustedError (a fallback may take it) and pauses
 * the model (see pause.ts); failures move the circuit breaker when one is declared.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TooLargeForLimitError, toError } from '../../errors/index.js';
import type { Logger } from '../../logger.js';
import { abortReason } from '../classify.js';
import type { Admission, CallAsk, CallEnd, Verdict } from './admission.js';
import { LEASE_MARGIN_MS } from './admission.js';
import { jittered } from './jitter.js';
import { needsSettle, type LimiterAnswer, type CallOutcome, type CallTarget, type Limiter, type SettleReply, type Ticket } from './limiter.js';
import { DEFAULT_MAX_PAUSE_MS, asQuotaExhausted, duration, outcomeOf, quotaFound, quotaRefusal, spentPause } from './pause.js';

/** A wait for capacity this short is waited in the process (the worker slot held), at most MAX_INLINE_WAIT_MS in all. */
const SHORT_WAIT_MS = 250;
const MAX_INLINE_WAIT_MS = 1_000;
/** How early a step whose turn is booked comes back for it (less than SHORT_WAIT_MS). */
const TURN_LEAD_MS = 100;

export interface LimitsGateOptions {
  limiter: Limiter;
  target: Omit<CallTarget, 'model'>;
  /** How long a call's concurrency lease lives if its worker is lost, when the request does not say (its agent's timeout). */
  leaseMs: number;
  logger: Logger;
  /** Told of each scope whose circuit a call opened (metrics). */
  onCircuitOpened?: ((scope: string) => void) | undefined;
  /**
   * Book a refused call's turn only when it is at most this far away (an agent's primary model
   * with fallbacks: `fallbackAfterMs`; a longer wait goes to a fallback, and a turn booked for it
   * would be held for nobody). Default: any.
   */
  bookWithinMs?: number | undefined;
  /** The longest pause after a 429 or an overload (a Retry-After beyond it is a spent quota). @default 5 minutes */
  maxPauseMs?: number | undefined;
}

export class LimitsGate implements Admission<Ticket> {
  private readonly maxPauseMs: number;

  constructor(private readonly opts: LimitsGateOptions) {
    this.maxPauseMs = opts.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS;
  }

  async acquire({ req, estimate }: CallAsk): Promise<Verdict<Ticket>> {
    const { limiter, target, leaseMs } = this.opts;
    const e = estimate();
    const tokens = e.inputTokens + e.outputTokens;
    // The lease outlives the call by a margin: the call is aborted at its step's timeout.
    const ask = () =>
      limiter.acquire({ ...target, model: req.model }, tokens, (req.timeoutMs ?? leaseMs) + LEASE_MARGIN_MS, req.callKey, this.opts.bookWithinMs, req.holder);
    let answer = await ask();
    // A short wait (its turn comes within a moment) is waited here, holding the worker slot that
    // briefly: a round through the delayed set would come back later than the turn.
    for (let waited = 0; !answer.granted && !answer.never && !answer.quota && answer.waitMs <= SHORT_WAIT_MS && waited < MAX_INLINE_WAIT_MS;) {
      await sleep(answer.waitMs, undefined, { signal: req.signal }).catch(() => undefined);
      if (req.signal.aborted) throw abortReason(req.signal);
      waited += answer.waitMs;
      answer = await ask();
    }
    return answer.granted ? { kind: 'go', ticket: answer.ticket } : refused(answer, tokens);
  }

  async settle(ticket: Ticket, end: CallEnd): Promise<CallEnd> {
    const { limiter, logger } = this.opts;
    let outcome: CallOutcome;
    if ('answer' in end) {
      const res = end.answer;
      const pause = spentPause(res.capacity, ticket.tokens, this.maxPauseMs);
      // Anthropic's input-token limits leave out what was read from its prompt cache.
      const unlimited = this.opts.target.provider === 'anthropic' ? (res.usage.cacheReadTokens ?? 0) : 0;
      outcome = { result: 'ok', usedTokens: res.usage.inputTokens + res.usage.outputTokens - unlimited, ...pause };
      if (pause) logger.debug({ model: res.model, capacity: res.capacity }, 'the provider says its capacity is spent: the model is held back until it reopens');
    } else {
      const quota = asQuotaExhausted(end.error, this.maxPauseMs);
      outcome = outcomeOf(quota ?? end.error, this.maxPauseMs);
      if (quota) end = { error: quotaFound(ticket.scopes[1]!.id, quota, outcome.pauseUntil!) };
    }
    // Never lose an answer to the limiter: a failed settle is logged (its lease expires by itself).
    if (needsSettle(ticket) || outcome.pauseUntil) {
      try {
        this.told(await limiter.settle(ticket, outcome), outcome);
      } catch (err) {
        logger.warn({ err: toError(err).message }, 'could not settle a provider call with the limiter');
      }
    }
    return end;
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

/** The verdict on a call the limiter did not let go. */
function refused(answer: Extract<LimiterAnswer, { granted: false }>, tokens: number): Verdict<Ticket> {
  // A spent quota is not waited for: the call goes to a fallback, or its step fails.
  if (answer.quota) return { kind: 'refuse', error: quotaRefusal(answer.scope, answer.quota) };
  const what = `${answer.scope} ${answer.why}`;
  if (answer.never) {
    const error = new TooLargeForLimitError(
      `the call needs about ${tokens} tokens (prompt and maxTokens), more than ${what} allows in a minute; lower maxTokens or shorten the input`,
    );
    return { kind: 'refuse', error };
  }
  // A booked turn (limiter-acquire.lua) is come back to a little early (a delayed job comes
  // back some milliseconds late, more on a busy host) and waited for here, so the call goes
  // on its turn; the polls for calls at once or a half-open circuit are spread a little.
  const ms = answer.booked
    ? Math.max(0, answer.waitMs - TURN_LEAD_MS)
    : answer.why === 'maxConcurrent' || answer.why.startsWith('circuit half-open')
      ? jittered(answer.waitMs)
      : answer.waitMs;
  return { kind: 'wait', ms, why: what, limit: answer.why };
}
