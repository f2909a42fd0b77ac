/**
 * The wait before a step's next attempt, from its job's backoff (as flow-builder writes it:
 * `{type, delay, jitter}`): `fixed` waits `delay`, `exponential` `delay × 2^(attempt−1)`, and a
 * jitter shortens the wait by a random part of it, up to `jitter × wait` (the same rule as
 * BullMQ's own backoffs). The step machine waits this out itself, so it knows when the next
 * attempt starts (the step's `retryAt`).
 */
export function retryDelayMs(backoff: unknown, attempt: number, random: () => number = Math.random): number {
  const b = (typeof backoff === 'number' ? { type: 'fixed', delay: backoff } : (backoff ?? {})) as { type?: string; delay?: number; jitter?: number };
  const delay = Math.max(0, b.delay ?? 0);
  const wait = b.type === 'exponential' ? delay * 2 ** Math.max(0, attempt - 1) : delay;
  const jitter = Math.min(1, Math.max(0, b.jitter ?? 0));
  return Math.round(wait * (1 - jitter * random()));
}
