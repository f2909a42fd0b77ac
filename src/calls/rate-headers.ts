/**
 * What a provider's answer says of its remaining capacity, from its rate-limit headers, so the
 * shared limiter can hold back before a 429 happens. OpenAI: `x-ratelimit-remaining-requests`,
 * `x-ratelimit-remaining-tokens`, `x-ratelimit-reset-requests` / `-tokens` (durations such as
 * `1s`, `6m0s`, `20ms`). Anthropic: `anthropic-ratelimit-requests-remaining`,
 * `anthropic-ratelimit-tokens-remaining` (or its input / output split), `-reset` (RFC 3339).
 */
export interface CapacityHeaders {
  remainingRequests?: number;
  remainingTokens?: number;
  /** When the requests / tokens window reopens, ms from now. */
  requestsResetMs?: number;
  tokensResetMs?: number;
}

const num = (v: string | null): number | undefined => {
  if (v === null || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
};

/** `1h2m3.5s`, `6m0s`, `20ms`, `1s` → ms. */
export function parseDuration(v: string | null): number | undefined {
  if (!v) return undefined;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let ms = 0;
  let matched = '';
  for (const m of v.matchAll(re)) {
    const n = Number(m[1]);
    ms += m[2] === 'h' ? n * 3600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
    matched += m[0];
  }
  return matched === v.trim() && matched !== '' ? Math.ceil(ms) : undefined;
}

const untilDate = (v: string | null): number | undefined => {
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : undefined;
};

const min = (...xs: (number | undefined)[]): number | undefined => {
  const known = xs.filter((x): x is number => x !== undefined);
  return known.length ? Math.min(...known) : undefined;
};

export function capacityHeaders(headers: Headers | undefined): CapacityHeaders | undefined {
  if (!headers) return undefined;
  const out: CapacityHeaders = {};
  const set = <K extends keyof CapacityHeaders>(k: K, v: number | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('remainingRequests', min(num(headers.get('x-ratelimit-remaining-requests')), num(headers.get('anthropic-ratelimit-requests-remaining'))));
  set(
    'remainingTokens',
    min(
      num(headers.get('x-ratelimit-remaining-tokens')),
      num(headers.get('anthropic-ratelimit-tokens-remaining')),
      num(headers.get('anthropic-ratelimit-input-tokens-remaining')),
      num(headers.get('anthropic-ratelimit-output-tokens-remaining')),
    ),
  );
  set('requestsResetMs', parseDuration(headers.get('x-ratelimit-reset-requests')) ?? untilDate(headers.get('anthropic-ratelimit-requests-reset')));
  set(
    'tokensResetMs',
    parseDuration(headers.get('x-ratelimit-reset-tokens')) ??
      untilDate(headers.get('anthropic-ratelimit-tokens-reset')) ??
      untilDate(headers.get('anthropic-ratelimit-input-tokens-reset')),
  );
  return Object.keys(out).length ? out : undefined;
}
