/**
 * How a provider's "slow down" pauses a model (src/calls/admission/pause.ts), without Redis: every pause
 * capped (a capped one ends with a probe), a Retry-After beyond the cap told apart as a spent
 * quota, and the error a step gets for it.
 */
import { describe, expect, it } from 'vitest';
import { NonRetryableError, QuotaExhaustedError, RateLimitedError, RetryableError } from '../../src/errors/index.js';
import { DEFAULT_MAX_PAUSE_MS, asQuotaExhausted, cappedPause, duration, outcomeOf, quotaRefusal, spentPause } from '../../src/calls/admission/pause.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const CAP = DEFAULT_MAX_PAUSE_MS;
const DAYS_3 = 3 * 24 * 3600_000;

describe('the pause policy', () => {
  it('caps a pause at five minutes by default; a capped pause ends with a probe', () => {
    expect(CAP).toBe(300_000);
    expect(cappedPause(2_000, CAP, NOW)).toEqual({ pauseUntil: NOW + 2_000 });
    expect(cappedPause(DAYS_3, CAP, NOW)).toEqual({ pauseUntil: NOW + CAP, pauseKind: 'capped' });
  });

  it('tells a 429 whose Retry-After is beyond the cap apart as a spent quota, saying when the provider said it recovers (counted from when it was read)', () => {
    const limited = new RateLimitedError('anthropic 429: monthly spend limit reached', DAYS_3, 429, { since: NOW });
    const quota = asQuotaExhausted(limited, CAP)!;
    expect(quota).toBeInstanceOf(QuotaExhaustedError);
    expect(quota.recoversAt).toBe(NOW + DAYS_3);
    expect(quota.message).toBe(
      'anthropic 429: monthly spend limit reached (its Retry-After, 3 days, is beyond the 5 min a rate limit is waited out: a spent quota)',
    );
    // Within the cap it is a rate limit; an overload (529) is never a quota, whatever it asks.
    expect(asQuotaExhausted(new RateLimitedError('slow down', CAP, 429), CAP)).toBeUndefined();
    expect(asQuotaExhausted(new RateLimitedError('overloaded', DAYS_3, 529), CAP)).toBeUndefined();
    const typed = new QuotaExhaustedError('openai 429: insufficient_quota', 429);
    expect(asQuotaExhausted(typed, CAP)).toBe(typed);
  });

  it('pauses the model for a spent quota until the cap (or the provider’s sooner recovery), then probes; a 2099 date pauses five minutes', () => {
    expect(outcomeOf(new QuotaExhaustedError('spent', 429), CAP, NOW)).toEqual({
      result: 'neutral',
      pauseUntil: NOW + CAP,
      pauseKind: 'quota',
      quota: { message: 'spent', recoversAt: undefined },
    });
    expect(outcomeOf(new QuotaExhaustedError('spent', 429, NOW + 60_000), CAP, NOW)).toMatchObject({ pauseUntil: NOW + 60_000, pauseKind: 'quota' });
    const in2099 = Date.parse('2099-01-01T00:00:00Z') - NOW;
    expect(outcomeOf(asQuotaExhausted(new RateLimitedError('far', in2099, 429, { since: NOW }), CAP), CAP, NOW)).toMatchObject({
      pauseUntil: NOW + CAP,
      pauseKind: 'quota',
    });
    // A rate limit and an overload: capped, the overload counts against the provider's health.
    expect(outcomeOf(new RateLimitedError('slow', 1500, 429), CAP, NOW)).toEqual({ result: 'neutral', pauseUntil: NOW + 1500 });
    expect(outcomeOf(new RateLimitedError('busy', DAYS_3, 529), CAP, NOW)).toEqual({ result: 'failure', pauseUntil: NOW + CAP, pauseKind: 'capped' });
    expect(outcomeOf(new RetryableError('500'), CAP, NOW)).toEqual({ result: 'failure' });
    expect(outcomeOf(new NonRetryableError('400'), CAP, NOW)).toEqual({ result: 'neutral' });
  });

  it('caps the hold of an answer whose rate-limit headers say its capacity is spent for hours', () => {
    expect(spentPause({ remainingRequests: 0, requestsResetMs: 6 * 3600_000 }, 1, CAP, NOW)).toEqual({ pauseUntil: NOW + CAP, pauseKind: 'capped' });
    expect(spentPause({ remainingRequests: 3 }, 1, CAP)).toBeUndefined();
  });

  it('says in the step’s error that the quota is spent, the provider’s message, when it may recover and how to lift the pause', () => {
    const err = quotaRefusal('openai/gpt-4o', { message: 'openai 429: You exceeded your current quota', recoversAt: NOW + DAYS_3, pausedUntil: NOW + CAP });
    expect(err).toBeInstanceOf(QuotaExhaustedError);
    expect(err.code).toBe('quota_exhausted');
    expect(err.message).toBe(
      'quota exhausted (quota_exhausted) on openai/gpt-4o: openai 429: You exceeded your current quota; the provider said it may recover at 2026-01-04T00:00:00.000Z. ' +
        'Not retried: calls to openai/gpt-4o are refused until 2026-01-01T00:05:00.000Z, then one probe call decides; an admin lifts the pause with POST /v1/limits/openai%2Fgpt-4o/resume',
    );
    expect([duration(12_000), duration(300_000), duration(7_200_000), duration(DAYS_3)]).toEqual(['12 s', '5 min', '2 h', '3 days']);
  });
});
