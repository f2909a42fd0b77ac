/**
 * The one mapping from provider failures to Switchyard's control-flow errors. Adapters call it
 * in their `catch`, so nothing above them ever sees an SDK error. Each vendor reads its own
 * SDK's errors (`VendorErrors`, in vendors/<name>/errors.ts: the SDK's classes, its status,
 * type and code); the mapping from what it read to an error class is here, once. It branches
 * on the SDKs' own error classes and HTTP status, never on message text.
 */
import {
  CancelledError,
  ContextLengthError,
  NonRetryableError,
  QuotaExhaustedError,
  RateLimitedError,
  RetryableError,
  SwitchyardError,
  toError,
} from '../errors/index.js';

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

/** A failure as a vendor's SDK tells it. */
export type VendorFailure =
  /** The SDK's own abort error. */
  | { kind: 'aborted'; message: string }
  /** The server was not reached or did not answer (the SDK's own timeout too). */
  | { kind: 'connection'; message: string }
  /** The API answered with an error (or sent one inside a stream after the 200: no status). */
  | {
      kind: 'api';
      status: number | undefined;
      /** The body's error type and code as sent (any JSON a compatible server puts there). */
      type: unknown;
      code: unknown;
      /** The error types this vendor's type and code name (see the sets below). */
      types: string[];
      /** The provider's own explanation, without the SDK's status prefix or JSON wrapping. */
      message: string;
      headers: Headers | undefined;
      /** The provider says it is overloaded (Anthropic's 529): unwell, not only busy. */
      overloaded: boolean;
    };

/** A vendor's reading of its SDK's errors: undefined for anything its SDK did not throw. */
export interface VendorErrors {
  read(err: unknown): VendorFailure | undefined;
}

/**
 * Map anything a provider call threw to RetryableError, RateLimitedError, NonRetryableError,
 * or the abort reason (StepTimeoutError, CancelledError...). `signal` is the request's signal:
 * when it has fired, the abort reason wins over whatever the HTTP layer reported.
 * `provider` only names the backend in messages; `errors` reads its SDK's errors.
 */
export function classify(err: unknown, provider: string, errors: VendorErrors | undefined, signal?: AbortSignal): Error {
  if (err instanceof SwitchyardError) return err;
  if (signal?.aborted) return abortReason(signal);
  const failure = errors?.read(err);
  if (failure?.kind === 'aborted') return new CancelledError(`${provider} request was aborted`, { cause: err });
  if (failure?.kind === 'connection') {
    return new RetryableError(`${provider} connection failed: ${maskKeys(failure.message)}`, undefined, { cause: err });
  }
  if (failure?.kind === 'api') return classifyStatus(failure, provider, err);
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

function classifyStatus(f: Extract<VendorFailure, { kind: 'api' }>, provider: string, cause: unknown): Error {
  const { status, types } = f;
  const detail = `${provider} ${status ?? 'error'}: ${maskKeys(f.message)}`;
  const now = Date.now();
  if (types.some((t) => QUOTA_TYPES.has(t))) {
    const after = retryAfterHeaderMs(f.headers, now);
    return new QuotaExhaustedError(
      `${detail} (quota exhausted: add credit or raise the limit with the provider)`,
      status,
      after === undefined ? undefined : now + after,
      { cause },
    );
  }
  if (status === 429 || f.overloaded || (status === undefined && types.some((t) => RATE_LIMIT_TYPES.has(t)))) {
    // An overload sent inside a stream has no status: it is told apart as a 529 (the provider is unwell).
    return new RateLimitedError(detail, retryAfterHeaderMs(f.headers, now) ?? DEFAULT_RETRY_AFTER_MS, f.overloaded ? 529 : status, { cause, since: now });
  }
  if (status === undefined && types.some((t) => INVALID_REQUEST_TYPES.has(t))) {
    return new NonRetryableError(detail, status, { cause });
  }
  if (status === undefined || status === 408 || status === 409 || status >= 500) {
    return new RetryableError(detail, status, { cause });
  }
  // Retrying the same prompt cannot help: say what to change.
  if (types.includes('context_length_exceeded') || status === 413 || types.includes('request_too_large')) {
    return new ContextLengthError(
      `context length exceeded: the prompt (with maxTokens) does not fit the model's context window; shorten the input or lower maxTokens (not retried). ${detail}`,
      status,
      { cause },
    );
  }
  return new NonRetryableError(detail, status, { cause });
}

/** `retry-after-ms`, else `retry-after` (seconds or an HTTP date, counted from `now`); undefined when neither says. */
function retryAfterHeaderMs(headers: Headers | undefined, now: number): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return Math.ceil(ms);
  const value = headers?.get('retry-after');
  if (value) {
    const seconds = Number(value);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
    const date = Date.parse(value);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  return undefined;
}

/** Our own reason (StepTimeoutError, CancelledError...) as is; anything else becomes CancelledError. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof SwitchyardError) return reason;
  return new CancelledError('provider call was aborted', { cause: reason });
}
