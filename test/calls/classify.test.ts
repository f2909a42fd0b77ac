/**
 * classifyProviderError against errors thrown by the REAL SDK clients talking HTTP to the
 * fake server: what the SDKs actually raise is what we map, for both APIs.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, NonRetryableError, QuotaExhaustedError, RateLimitedError, RetryableError, StepTimeoutError } from '../../src/errors/index.js';
import { classifyProviderError } from '../../src/calls/vendors/index.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';

let server: FakeLlmServer;
beforeAll(async () => {
  server = await startFakeLlmServer();
});
afterEach(() => server.reset());
afterAll(() => server.close());

type Call = (prompt: string, opts?: { signal?: AbortSignal; baseURL?: string; timeout?: number }) => Promise<unknown>;

const sdks: { provider: 'anthropic' | 'openai'; call: Call }[] = [
  {
    provider: 'anthropic',
    call: (prompt, o = {}) =>
      new Anthropic({ apiKey: 'k', baseURL: o.baseURL ?? server.anthropicBaseURL, maxRetries: 0, timeout: o.timeout ?? 10_000 }).messages.create(
        { model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: prompt }] },
        o.signal ? { signal: o.signal } : {},
      ),
  },
  {
    provider: 'openai',
    call: (prompt, o = {}) =>
      new OpenAI({ apiKey: 'k', baseURL: o.baseURL ?? server.openaiBaseURL, maxRetries: 0, timeout: o.timeout ?? 10_000 }).chat.completions.create(
        { model: 'gpt-test', max_tokens: 16, messages: [{ role: 'user', content: prompt }] },
        o.signal ? { signal: o.signal } : {},
      ),
  },
];

/** Run an SDK call that must fail and return the classified error. */
async function classified(provider: 'anthropic' | 'openai', p: Promise<unknown>, signal?: AbortSignal): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return classifyProviderError(err, provider, signal);
  }
  throw new Error('expected the SDK call to fail');
}

describe.each(sdks)('classifyProviderError with the $provider SDK', ({ provider, call }) => {
  it('turns a 429 with Retry-After seconds into RateLimitedError waiting that long', async () => {
    const err = await classified(provider, call('hi [[status:429]] [[retry-after:3]]'));
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(3000);
    expect((err as RateLimitedError).status).toBe(429);
  });

  it('prefers retry-after-ms, reads an HTTP-date Retry-After, and defaults to one second', async () => {
    server.respondWith(() => ({ status: 429, headers: { 'retry-after-ms': '250', 'retry-after': '9' } }));
    expect(((await classified(provider, call('a'))) as RateLimitedError).retryAfterMs).toBe(250);

    server.respondWith(() => ({ status: 429, headers: { 'retry-after': new Date(Date.now() + 5000).toUTCString() } }));
    const dated = (await classified(provider, call('b'))) as RateLimitedError;
    expect(dated.retryAfterMs).toBeGreaterThan(3000);
    expect(dated.retryAfterMs).toBeLessThanOrEqual(5000);

    server.respondWith(() => ({ status: 429 }));
    expect(((await classified(provider, call('c'))) as RateLimitedError).retryAfterMs).toBe(1000);
  });

  it.each([500, 503, 408, 409])('makes %i a RetryableError that keeps the status', async (status) => {
    const err = await classified(provider, call(`hi [[status:${status}]]`));
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).status).toBe(status);
  });

  it.each([400, 401, 404, 422])('makes %i a NonRetryableError carrying the provider message and status', async (status) => {
    const err = await classified(provider, call(`hi [[status:${status}]]`));
    expect(err).toBeInstanceOf(NonRetryableError);
    expect((err as NonRetryableError).status).toBe(status);
    expect(err.message).toContain(`fake error ${status}`);
    expect(err.message).toContain(String(status));
    expect(err.message).toContain(provider);
  });

  it('tells a spent quota apart from a rate limit by its error type: QuotaExhaustedError, not retried, with when it may recover', async () => {
    const type = provider === 'openai' ? 'insufficient_quota' : 'billing_error';
    const err = await classified(provider, call(`hi [[status:429]] [[error-type:${type}]] [[retry-after:259200]]`));
    expect(err).toBeInstanceOf(QuotaExhaustedError);
    expect(err).toBeInstanceOf(NonRetryableError);
    expect((err as QuotaExhaustedError).code).toBe('quota_exhausted');
    expect(err.message).toContain(`fake error 429 ${type}`);
    expect((err as QuotaExhaustedError).recoversAt! - Date.now()).toBeGreaterThan(259_000_000);
    // Without a Retry-After it does not say when.
    const silent = await classified(provider, call(`hi [[status:429]] [[error-type:${type}]]`));
    expect(silent).toBeInstanceOf(QuotaExhaustedError);
    expect((silent as QuotaExhaustedError).recoversAt).toBeUndefined();
  });

  it('keeps the Retry-After of a rate limit as the provider said it, days or an HTTP date in 2099 (the limiter decides what it means)', async () => {
    const days = await classified(provider, call('hi [[status:429]] [[retry-after:259200]]'));
    expect(days).toBeInstanceOf(RateLimitedError);
    expect((days as RateLimitedError).retryAfterMs).toBe(259_200_000);
    const far = await classified(provider, call('hi [[status:429]] [[retry-after:Thu, 01 Jan 2099 00:00:00 GMT]]'));
    expect((far as RateLimitedError).retryAfterMs).toBeGreaterThan(70 * 365 * 24 * 3600_000);
  });

  it('masks a key the provider quotes in its message, so that no copy of the error carries it', async () => {
    server.respondWith(() => ({
      status: 401,
      body:
        provider === 'openai'
          ? { error: { message: 'Incorrect API key provided: sk-proj-abcdef123456.', type: 'invalid_request_error', code: 'invalid_api_key' } }
          : { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key sk-ant-api03-abcdef123456' } },
    }));
    const err = await classified(provider, call('hi'));
    expect(err).toBeInstanceOf(NonRetryableError);
    expect(err.message).toContain('sk-[redacted]');
    expect(err.message).not.toContain('abcdef123456');
    // A quota message too: it is kept with the pause, shown by GET /v1/limits and logged.
    server.respondWith(() => ({
      status: 429,
      errorType: provider === 'openai' ? 'insufficient_quota' : 'billing_error',
      body: {
        error: { message: 'quota spent for key-abcdef123456', type: 'insufficient_quota', code: 'insufficient_quota' },
        ...(provider === 'anthropic' ? { type: 'error', error: { type: 'billing_error', message: 'quota spent for key-abcdef123456' } } : {}),
      },
    }));
    const quota = await classified(provider, call('hi'));
    expect(quota).toBeInstanceOf(QuotaExhaustedError);
    expect(quota.message).not.toContain('abcdef123456');
  });

  it('makes a refused connection a RetryableError', async () => {
    const closed = await startFakeLlmServer();
    await closed.close();
    const baseURL = provider === 'openai' ? closed.openaiBaseURL : closed.anthropicBaseURL;
    const err = await classified(provider, call('hi', { baseURL }));
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).status).toBeUndefined();
  });

  it("makes the SDK's own timeout a RetryableError", async () => {
    const err = await classified(provider, call('slow [[delay:2000]]', { timeout: 100 }));
    expect(err).toBeInstanceOf(RetryableError);
  });

  it('returns our StepTimeoutError when the signal is aborted with it, and the HTTP request is dropped', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new StepTimeoutError(100)), 100);
    const err = await classified(provider, call('slow [[delay:5000]]', { signal: controller.signal }), controller.signal);
    expect(err).toBeInstanceOf(StepTimeoutError);
    await expect.poll(() => server.requests[0]?.aborted).toBe(true);
    expect(server.aborts).toBe(1);
  });

  it('returns CancelledError when the signal is aborted with a foreign reason', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await classified(provider, call('slow [[delay:5000]]', { signal: controller.signal }), controller.signal);
    expect(err).toBeInstanceOf(CancelledError);
  });
});

describe('classifyProviderError specifics', () => {
  it('treats Anthropic 529 and overloaded_error as rate limiting', async () => {
    const err = await classified('anthropic', sdks[0]!.call('busy [[status:529]] [[retry-after:2]]'));
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(2000);

    server.respondWith(() => ({ status: 500, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } }));
    expect(await classified('anthropic', sdks[0]!.call('busy'))).toBeInstanceOf(RateLimitedError);
  });

  it('passes already-classified errors through unchanged', () => {
    const original = new NonRetryableError('nope', 400);
    expect(classifyProviderError(original, 'openai')).toBe(original);
    const timeout = new StepTimeoutError(5);
    expect(classifyProviderError(timeout, 'anthropic')).toBe(timeout);
  });

  it('makes an unknown failure retryable rather than losing it', () => {
    const err = classifyProviderError(new TypeError('boom'), 'openai');
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.message).toContain('boom');
  });
});
