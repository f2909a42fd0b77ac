/** When an outbound call is tried again, and how long it waits first. */
import { CancelledError } from '../errors/index.js';

/** Exponential backoff with full jitter over its upper half: base·2^(attempt-1), at most `max`, ms. */
export function backoff(attempt: number, base: number, max: number): number {
  const ceiling = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * How long to wait before trying an answer again, or undefined: not again. 5xx: backoff. 429:
 * its Retry-After (seconds or a date), or backoff without one; a Retry-After longer than `max`
 * is not waited for (the answer is returned). Any other status is final.
 */
export function retryWait(status: number, retryAfter: string | undefined, attempt: number, base: number, max: number): number | undefined {
  if (status >= 500) return backoff(attempt, base, max);
  if (status !== 429) return undefined;
  const asked = retryAfterMs(retryAfter);
  if (asked === undefined) return backoff(attempt, base, max);
  return asked <= max ? asked : undefined;
}

/** Retry-After as ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Waits `ms`, or throws CancelledError as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError(`${label}: cancelled`));
    const done = () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError(`${label}: cancelled`));
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
