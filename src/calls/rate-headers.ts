/**
 * What a provider's answer says of its remaining capacity, from its rate-limit headers, so the
 * shared limiter can hold back before a 429 happens. Each vendor reads its own headers
 * (vendors/<name>/rate-headers.ts) with the helpers here.
 */
export interface CapacityHeaders {
  remainingRequests?: number;
  remainingTokens?: number;
  /** When the requests / tokens window reopens, ms from now. */
  requestsResetMs?: number;
  tokensResetMs?: number;
}

/** A header's number (undefined when absent or not one). */
export const headerNumber = (v: string | null): number | undefined => {
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

/** Ms until an RFC 3339 date header (0 when past). */
export const untilDate = (v: string | null): number | undefined => {
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : undefined;
};

/** The least of the values known. */
export const leastOf = (...xs: (number | undefined)[]): number | undefined => {
  const known = xs.filter((x): x is number => x !== undefined);
  return known.length ? Math.min(...known) : undefined;
};

/** The values known, as CapacityHeaders (undefined when none is). */
export function capacity(values: Record<keyof CapacityHeaders, number | undefined>): CapacityHeaders | undefined {
  const out: CapacityHeaders = {};
  for (const [k, v] of Object.entries(values) as [keyof CapacityHeaders, number | undefined][]) if (v !== undefined) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}
