/**
 * OpenAI's rate-limit headers (and those of compatible servers that send them):
 * `x-ratelimit-remaining-requests` / `-tokens`, `x-ratelimit-reset-requests` / `-tokens`
 * (durations such as `1s`, `6m0s`, `20ms`).
 */
import { capacity, headerNumber, parseDuration, type CapacityHeaders } from '../../rate-headers.js';

export function openaiCapacity(headers: Headers | undefined): CapacityHeaders | undefined {
  if (!headers) return undefined;
  return capacity({
    remainingRequests: headerNumber(headers.get('x-ratelimit-remaining-requests')),
    remainingTokens: headerNumber(headers.get('x-ratelimit-remaining-tokens')),
    requestsResetMs: parseDuration(headers.get('x-ratelimit-reset-requests')),
    tokensResetMs: parseDuration(headers.get('x-ratelimit-reset-tokens')),
  });
}
