/** Small helpers shared by the benchmark scenarios: seeded PRNG, statistics, formatting. */
import { performance } from 'node:perf_hooks';
import type { Job, Worker } from 'bullmq';

/** mulberry32: a tiny deterministic PRNG (same seed → same sequence on every machine). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [lo, hi] from `rnd`. */
export const randInt = (rnd: () => number, lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : String(n));

/** Milliseconds with a sensible number of decimals. */
export const fmtMs = (ms: number): string => `${ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)} ms`;

/** Reject after `ms` with `what` in the message, unless `p` settles first. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Run `reps` interleaved rounds of (switchyard, raw[, floor]) after `warmup` unmeasured rounds
 * of each (JIT compilation, Redis memory growth: the first rounds of a fresh process run
 * slower). `floor` is raw BullMQ with the awaited writes of durability (lib/durable.ts). Without
 * `raw`, just the Switchyard rounds. Progress goes to `log`.
 */
export async function interleaved<S, R = never, F = never>(
  { reps, warmup, log }: { reps: number; warmup: number; log: (msg: string) => void },
  sw: () => Promise<S>,
  raw?: () => Promise<R>,
  floor?: () => Promise<F>,
): Promise<{ sw: S[]; raw: R[]; floor: F[] }> {
  for (let i = 0; i < warmup; i++) {
    log(`  warm-up ${i + 1}/${warmup}`);
    await sw();
    if (raw) await raw();
    if (floor) await floor();
  }
  const out: { sw: S[]; raw: R[]; floor: F[] } = { sw: [], raw: [], floor: [] };
  const sides: (() => Promise<void>)[] = [
    async () => void out.sw.push(await sw()),
    ...(raw ? [async () => void out.raw.push(await raw())] : []),
    ...(floor ? [async () => void out.floor.push(await floor())] : []),
  ];
  for (let i = 0; i < reps; i++) {
    // Rotate which side goes first so slow drift of the machine hits each equally.
    for (let k = 0; k < sides.length; k++) await sides[(i + k) % sides.length]!();
    log(`  rep ${i + 1}/${reps} done`);
  }
  return out;
}

export interface Settlement {
  t: number;
  err?: string;
}

/** Values by key that may arrive before anyone waits for them (a run can end before its submit returns). */
export class Arrivals<T> {
  private readonly arrived = new Map<string, T>();
  private readonly waiters = new Map<string, (value: T) => void>();

  /** `value` arrives for `key`: to its waiter, or kept for a later wait (unless `keep` is false). */
  arrive(key: string, value: T, keep = true): void {
    const w = this.waiters.get(key);
    if (w) {
      this.waiters.delete(key);
      w(value);
    } else if (keep) this.arrived.set(key, value);
  }

  wait(key: string): Promise<T> {
    const value = this.arrived.get(key);
    if (value !== undefined) {
      this.arrived.delete(key);
      return Promise.resolve(value);
    }
    return new Promise((resolve) => this.waiters.set(key, resolve));
  }

  forget(key: string): void {
    this.waiters.delete(key);
  }
}

/**
 * Completion of root jobs by id, from a Worker's `completed`/`failed` events; only the ids
 * `accept` takes are kept when nobody waits for them yet.
 */
export class RootSettlements extends Arrivals<Settlement> {
  constructor(worker: Worker, accept: (id: string) => boolean = () => true) {
    super();
    worker.on('completed', (job: Job) => this.arrive(job.id!, { t: performance.now() }, accept(job.id!)));
    worker.on('failed', (job: Job | undefined, err: Error) => {
      if (job?.id) this.arrive(job.id, { t: performance.now(), err: err.message }, accept(job.id));
    });
  }
}
