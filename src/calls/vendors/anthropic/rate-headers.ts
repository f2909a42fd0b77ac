/**
 * Anthropic's rate-limit headers: `anthropic-ratelimit-requests-remaining`,
 * `anthropic-ratelimit-tokens-remaining` (or its input / output split, the least of them
 * counts), `-reset` (RFC 3339).
 */
import { capacity, headerNumber, leastOf, untilDate, type CapacityHeaders } from '../../rate-headers.js';

export function anthropicCapacity(headers: Headers | undefined): CapacityHeaders | undefined {
  if (!headers) return undefined;
  return capacity({
    remainingRequests: headerNumber(headers.get('anthropic-ratelimit-requests-remaining')),
    remainingTokens: leastOf(
      headerNumber(headers.get('anthropic-ratelimit-tokens-remaining')),
      headerNumber(headers.get('anthropic-ratelimit-input-tokens-remaining')),
      headerNumber(headers.get('anthropic-ratelimit-output-tokens-remaining')),
    ),
    requestsResetMs: untilDate(headers.get('anthropic-ratelimit-requests-reset')),
    tokensResetMs: untilDate(headers.get('anthropic-ratelimit-tokens-reset')) ?? untilDate(headers.get('anthropic-ratelimit-input-tokens-reset')),
  });
}
