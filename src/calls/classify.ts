/**
 * The one mapping from provider failures to Switchyard's control-flow errors. Providers call it
 * in their `catch`, so nothing above them ever sees an SDK error. It branches on the SDKs' own
 * error classes and HTTP status, never on message text.
 */
import * as Anthropic from '@anthropic-ai/sdk';
import * as OpenAI from 'openai';
import type { ProviderName } from '../model/agent.js';
import { CancelledError, NonRetryableError, QuotaExhaustedError, RateLimitedError, RetryableError, SwitchyardError, toError } from '../errors/index.js';

/** Key-like tokens (`sk-...`, `sk-ant-...`, `key-...`), masked wherever a message quotes one. */
const KEY_LIKE = /\b(sk|key|api[_-]?key)-[A-Za-z0-9_*-]{6,}/gi;

/**
 * `text` with the keys it quotes masked (OpenAI's 401 quotes part of the key sent). Every
 * provider message is masked here, where it is classified, so that no copy of it (the step's
 * error, its events, a quota pause, the logs, a step's debug) carries one.
 */
export const maskKeys = (text: string): string => text.replace(KEY_LIKE, '$1-[redacted]');

/** Wait used when a 429/529 carries no usable Retry-After header. */
const DEFAULT_RETRY_AFTER_MS = 1000;

export type SdkApiError = Anthropic.APIError | OpenAI.APIError;

/**
 * Map anything a provider call threw to RetryableError, RateLimitedError, NonRetryableError,
 * or the abort reason (StepTimeoutError, CancelledError...). `signal` is the request's signal:
 * when it has fired, the abort reason wins over whatever the HTTP layer reported.
 * `provider` only names the backend in messages (and enables Anthropic's 529 "overloaded").
 */
export function classifyProviderError(err: unknown, provider: ProviderName, signal?: AbortSignal): Error {
  if (err instanceof SwitchyardError) return err;
  if (signal?.aborted) return abortReason(signal);
  if (err instanceof Anthropic.APIUserAbortError || err instanceof OpenAI.APIUserAbortError) {
    return new CancelledError(`${provider} request was aborted`, { cause: err });
  }
  // Connection failures and the SDK's own timeout (APIConnectionTimeoutError is a subclass).
  if (err instanceof Anthropic.APIConnectionError || err instanceof OpenAI.APIConnectionError) {
    return new RetryableError(`${provider} connection failed: ${maskKeys(err.message)}`, undefined, { cause: err });
  }
  if (err instanceof Anthropic.APIError || err instanceof OpenAI.APIError) return classifyStatus(err, provider);
  // Not an SDK error (a bug or an unexpected runtime failure): let BullMQ's attempts decide.
  const e = toError(err);
  return new RetryableError(`${provider} call failed: ${maskKeys(e.message)}`, undefined, { cause: e });
}

/**
 * Error types (Anthropic `error.type`; OpenAI `error.type` or `error.code`) of an error that
 * carries no HTTP status: one sent inside a stream after the 200.
 */
const RATE_LIMIT_TYPES = new Set(['rate_limit_error', 'overloaded_error', 'rate_limit_exceeded', 'requests', 'tokens']);
const INVALID_REQUEST_TYPES = new Set(['invalid_request_error', 'authentication_error', 'permission_error', 'not_found_error', 'request_too_large']);
/** A spent quota or a billing problem (OpenAI's code `insufficient_quota`, Anthropic's `billing_error`): waiting will not bring it back. */
const QUOTA_TYPES = new Set(['insufficient_quota', 'billing_error']);

function classifyStatus(err: SdkApiError, provider: ProviderName): Error {
  const status = err.status;
  const detail = `${provider} ${status ?? 'error'}: ${maskKeys(providerMessage(err))}`;
  const types = [err.type, err instanceof OpenAI.APIError ? err.code : undefined].filter((t): t is string => typeof t === 'string');
  const overloaded = provider === 'anthropic' && (status === 529 || types.includes('overloaded_error'));
  if (types.some((t) => QUOTA_TYPES.has(t))) {
    const after = retryAfterHeaderMs(err.headers);
    return new QuotaExhaustedError(
      `${detail} (quota exhausted: add credit or raise the limit with the provider)`,
      status,
      after === undefined ? undefined : Date.now() + after,
      { cause: err },
    );
  }
  if (status === 429 || overloaded || (status === undefined && types.some((t) => RATE_LIMIT_TYPES.has(t)))) {
    // An overload sent inside a stream has no status: it is told apart as a 529 (the provider is unwell).
    return new RateLimitedError(detail, retryAfterHeaderMs(err.headers) ?? DEFAULT_RETRY_AFTER_MS, overloaded ? 529 : status, { cause: err });
  }
  if (status === undefined && types.some((t) => INVALID_REQUEST_TYPES.has(t))) {
    return new NonRetryableError(detail, status, { cause: err });
  }
  if (status === undefined || status === 408 || status === 409 || status >= 500) {
    return new RetryableError(detail, status, { cause: err });
  }
  // Retrying the same prompt cannot help: say what to change.
  if (types.includes('context_length_exceeded') || status === 413 || types.includes('request_too_large')) {
    return new NonRetryableError(
      `context length exceeded: the prompt (with maxTokens) does not fit the model's context window; shorten the input or lower maxTokens (not retried). ${detail}`,
      status,
      { cause: err },
    );
  }
  return new NonRetryableError(detail, status, { cause: err });
}

/** The provider's own explanation, without the SDK's status prefix or JSON wrapping. */
export function providerMessage(err: SdkApiError): string {
  if (err instanceof Anthropic.APIError && err.apiMessage) return err.apiMessage;
  // The OpenAI SDK keeps the body's `error` object in `err.error`.
  const body: { message?: unknown } | undefined = err instanceof OpenAI.APIError ? err.error : undefined;
  const message = body?.message;
  if (typeof message === 'string') return message;
  return err.message;
}

/** `retry-after-ms`, else `retry-after` (seconds or an HTTP date); undefined when neither says. */
function retryAfterHeaderMs(headers: Headers | undefined): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return Math.ceil(ms);
  const value = headers?.get('retry-after');
  if (value) {
    const seconds = Number(value);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
    const date = Date.parse(value);
    if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  }
  return undefined;
}

/** Our own reason (StepTimeoutError, CancelledError...) as is; anything else becomes CancelledError. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof SwitchyardError) return reason;
  return new CancelledError('provider call was aborted', { cause: reason });
}
