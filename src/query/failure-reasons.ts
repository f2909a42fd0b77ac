/**
 * Why a step failed, as one of the FailureReasons, and the plain advice each one calls for.
 * Read from the class of the error it failed with (`errorClass`, recorded since it is kept),
 * else from the provider's error on its last call (`debug.error`: status, type and code as the
 * provider sent them), never from message text. Pure.
 */
import type { FailureReason } from '../model/insights.js';
import { LOST_STEP_ERROR, type StepRecord } from '../model/run.js';

const BY_CLASS: Record<string, FailureReason> = {
  ContextLengthError: 'context_length',
  TooLargeForLimitError: 'context_length',
  RateLimitedError: 'rate_limited',
  CapacityWaitError: 'rate_limited',
  QuotaExhaustedError: 'quota_exhausted',
  QuotaRefusedError: 'quota_exhausted',
  StepTimeoutError: 'timeout',
  RetryableError: 'provider_error',
  ValidationError: 'invalid_output',
  BudgetExceededError: 'budget',
  EnvelopeSpentError: 'budget',
};

const CONTEXT_CODES = new Set(['context_length_exceeded', 'request_too_large', 'string_above_max_length']);

/** From the provider's own answer on the step's last call. */
function fromProviderError(e: NonNullable<StepRecord['debug']>['error']): FailureReason | undefined {
  if (!e) return undefined;
  const { status } = e;
  if (status === 413 || CONTEXT_CODES.has(e.code ?? '') || CONTEXT_CODES.has(e.type ?? '')) return 'context_length';
  if (e.code === 'insufficient_quota' || e.type === 'billing_error') return 'quota_exhausted';
  if (status === 429 || status === 529) return 'rate_limited';
  if (status === 401 || status === 403) return 'auth';
  if (status !== undefined && status >= 500) return 'provider_error';
  if (status !== undefined && status >= 400) return 'invalid_request';
  return undefined;
}

/** The reason of a failed step. */
export function failureReason(s: Pick<StepRecord, 'error' | 'errorClass' | 'debug'>): FailureReason {
  if (s.error === LOST_STEP_ERROR) return 'worker_lost';
  const provider = fromProviderError(s.debug?.error);
  const byClass = s.errorClass ? BY_CLASS[s.errorClass] : undefined;
  if (byClass) return byClass;
  // A NonRetryableError (or an older record without its class): what the provider said tells which.
  return provider ?? 'other';
}

/** What to do about a reason (the end of a suggestion's sentence). */
export const ADVICE: Record<FailureReason, { what: string; advice: string }> = {
  context_length: { what: 'context-length errors', advice: 'shorten its prompt or input, lower maxTokens, or give it a model with a larger context window' },
  rate_limited: { what: 'rate limits', advice: 'raise its provider limits, lower its concurrency, or give it a fallback model' },
  quota_exhausted: { what: 'a spent provider quota', advice: 'add credit or raise the quota with the provider, or give it a fallback model' },
  timeout: { what: 'timeouts', advice: 'raise its timeoutMs, or lower maxTokens so that answers come sooner' },
  provider_error: { what: 'provider errors (5xx, connections)', advice: 'give it a fallback model or more attempts' },
  auth: { what: 'refused keys (401/403)', advice: "check its provider key (npm run keys, or the workspace agent's key)" },
  invalid_request: {
    what: 'refused requests (4xx)',
    advice: "check its model name and parameters (the failed steps' debug.error says what the provider refused)",
  },
  invalid_output: { what: 'answers that did not fit', advice: 'simplify its output schema, or say in its prompt what the answer must hold' },
  budget: { what: 'budget stops', advice: "raise the runs' budget or lower maxTokens" },
  worker_lost: { what: 'lost workers', advice: "check its workers' memory and crashes, or raise their lockDuration" },
  other: { what: 'other errors', advice: "read the failed steps' errors (GET /v1/runs/:id)" },
};
