/** The step machine's decision after the work, without Redis: each outcome and error a segment can end with, and what it does. */
import { describe, expect, it } from 'vitest';
import {
  BudgetExceededError,
  CancelledError,
  CapacityWaitError,
  NonRetryableError,
  RateLimitedError,
  RetryableError,
  StaleAttemptError,
  StepTimeoutError,
  ValidationError,
} from '../../src/errors/index.js';
import { mayHaveEnded, settle, type Action, type SettlePolicy, type WorkResult } from '../../src/engine/settle.js';

const NOW = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(NOW + ms).toISOString();

const policy: SettlePolicy = {
  maxAttempts: 3,
  attemptsMade: 0,
  backoff: { type: 'exponential', delay: 1000, jitter: 0 },
  maxPauseMs: 60_000,
  maxOutputBytes: 100,
};

const failed = (error: Error, over: Partial<Extract<WorkResult, { error: Error }>> = {}): WorkResult => ({ error, aborted: false, ...over });
const ENDED = { ended: { stepStatus: 'cancelled' as const } };

describe('settle: outcomes', () => {
  const cases: [string, WorkResult, Action['action'], Partial<Action>?][] = [
    ['a result is recorded', { outcome: { type: 'succeeded', output: 'ok' } }, 'succeed'],
    ['a reused result is recorded whatever its size', { outcome: { type: 'succeeded', output: 'x'.repeat(500), reusedFrom: 'r0' } }, 'succeed'],
    ['nothing to do: skipped', { outcome: { type: 'skipped', reason: 'empty list' } }, 'skip', { reason: 'empty list', stopRun: false }],
    ['skipped, stopping the run', { outcome: { type: 'skipped', reason: 'done early', stopRun: true } }, 'skip', { stopRun: true }],
    ['a sleep until a time', { outcome: { type: 'sleep', reason: 'approval', untilMs: NOW + 5000 } }, 'sleep', { untilMs: NOW + 5000 }],
    ['a sleep until woken', { outcome: { type: 'sleep', reason: 'approval', untilMs: Infinity } }, 'sleep', { untilMs: Infinity }],
    ['waiting for the steps it added: park', { outcome: { type: 'wait' } }, 'park'],
  ];
  it.each(cases)('%s', (_name, result, action, fields) => {
    const got = settle(result, 1, policy, NOW);
    expect(got.action).toBe(action);
    if (fields) expect(got).toMatchObject(fields);
  });

  it('fails a step whose output is past the bound (not retryable), naming the setting', () => {
    const got = settle({ outcome: { type: 'succeeded', output: 'x'.repeat(500) } }, 1, policy, NOW);
    expect(got).toMatchObject({ action: 'fail' });
    const { error } = got as Extract<Action, { action: 'fail' }>;
    expect(error).toBeInstanceOf(NonRetryableError);
    expect(error.message).toMatch(/SWITCHYARD_MAX_OUTPUT_BYTES/);
  });
});

describe('settle: errors', () => {
  const cases: [string, WorkResult, number, Partial<SettlePolicy>, Action['action']][] = [
    ['a cancel after its run ended: abandon', failed(new CancelledError('run cancelled'), ENDED), 1, {}, 'abandon'],
    ['any error of an aborted delivery whose run ended: abandon', failed(new RetryableError('socket closed'), { aborted: true, ...ENDED }), 1, {}, 'abandon'],
    ['a stale attempt whose step ended: abandon', failed(new StaleAttemptError('taken over'), ENDED), 1, {}, 'abandon'],
    ['a stale attempt of a live step: leave it alone', failed(new StaleAttemptError('taken over')), 1, {}, 'stale'],
    ['a timeout, even aborted, is not a cancel: retried', failed(new StepTimeoutError(1000), { aborted: true, ...ENDED }), 1, {}, 'retry'],
    ['a cancel of a live run and step: retried as any error', failed(new CancelledError('step cancelled')), 1, {}, 'retry'],
    ['a spent budget halts the run', failed(new BudgetExceededError('budget exceeded: maxTokens')), 1, {}, 'halt'],
    ['no capacity: retry later', failed(new CapacityWaitError('rpm full', 2500, 'rpm')), 3, {}, 'retry'],
    ['a 429: the queue waits', failed(new RateLimitedError('429', 5000)), 3, {}, 'rate-limit'],
    ['not retryable: fail', failed(new NonRetryableError('bad request')), 1, {}, 'fail'],
    ['invalid: fail', failed(new ValidationError('bad output')), 1, {}, 'fail'],
    ['out of attempts by the step: fail', failed(new RetryableError('500')), 3, {}, 'fail'],
    ["out of attempts by BullMQ's count: fail", failed(new RetryableError('500')), 1, { attemptsMade: 2 }, 'fail'],
    ['attempts left: retry after the backoff', failed(new RetryableError('500')), 2, {}, 'retry'],
  ];
  it.each(cases)('%s', (_name, result, attempt, over, action) => {
    expect(settle(result, attempt, { ...policy, ...over }, NOW).action).toBe(action);
  });

  it('retries after the backoff, counting the attempt, and says when', () => {
    const got = settle(failed(new RetryableError('HTTP 500')), 2, policy, NOW);
    expect(got).toEqual({
      action: 'retry',
      retryAt: NOW + 2000,
      change: {
        fields: { error: 'HTTP 500', retryAt: at(2000) },
        event: { type: 'step.retrying', data: { attempt: 2, error: 'HTTP 500', retryAt: at(2000) } },
      },
      cause: { error: expect.any(RetryableError) },
    });
    // A jitter shortens the wait by a random part of it.
    const jittered = settle(failed(new RetryableError('x')), 1, { ...policy, backoff: { type: 'fixed', delay: 1000, jitter: 0.5 }, random: () => 1 }, NOW);
    expect(jittered).toMatchObject({ action: 'retry', retryAt: NOW + 500 });
  });

  it('gives the attempt back when the limiter had no capacity, retrying when capacity is expected', () => {
    const err = new CapacityWaitError('tpm full', 2500, 'tpm');
    expect(settle(failed(err), 3, policy, NOW)).toEqual({
      action: 'retry',
      retryAt: NOW + 2500,
      change: {
        attemptsDelta: -1,
        fields: { reason: 'tpm full', retryAt: at(2500) },
        event: { type: 'step.retrying', data: { reason: 'capacity', detail: 'tpm full', retryAt: at(2500) } },
      },
      cause: { capacity: err },
    });
  });

  it('pauses the queue at most the pause cap on a 429', () => {
    expect(settle(failed(new RateLimitedError('429', 5000)), 1, policy, NOW)).toMatchObject({ action: 'rate-limit', pauseMs: 5000 });
    expect(settle(failed(new RateLimitedError('429', 3_600_000)), 1, policy, NOW)).toMatchObject({ action: 'rate-limit', pauseMs: 60_000 });
  });

  it('passes on what it read of the step to an abandon, and the reason of a halt', () => {
    expect(settle(failed(new CancelledError('x'), { ended: { stepStatus: 'missing' } }), 1, policy, NOW)).toEqual({ action: 'abandon', stepStatus: 'missing' });
    expect(settle(failed(new BudgetExceededError('budget exceeded: maxCostUsd')), 1, policy, NOW)).toEqual({
      action: 'halt',
      reason: 'budget exceeded: maxCostUsd',
    });
  });

  it('asks for the run and step state only when an error may mean they ended', () => {
    expect(mayHaveEnded(new CancelledError('x'), false)).toBe(true);
    expect(mayHaveEnded(new StaleAttemptError('x'), false)).toBe(true);
    expect(mayHaveEnded(new RetryableError('x'), true)).toBe(true);
    expect(mayHaveEnded(new StepTimeoutError(10), true)).toBe(false);
    expect(mayHaveEnded(new RetryableError('x'), false)).toBe(false);
  });
});
