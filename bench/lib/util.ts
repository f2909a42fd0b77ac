/** Small helpers shared by the benchmark scenarios: seeded PRNG, statistics, formatting. */

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

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

/** Run `n` interleaved rounds of (switchyard, raw) after one warm-up round of each. */
export async function interleaved<S, R>(
  reps: number,
  sw: () => Promise<S>,
  raw: (() => Promise<R>) | undefined,
  log: (msg: string) => void,
): Promise<{ sw: S[]; raw: R[] }> {
  log('  warm-up');
  await sw();
  if (raw) await raw();
  const out: { sw: S[]; raw: R[] } = { sw: [], raw: [] };
  for (let i = 0; i < reps; i++) {
    // Alternate which side goes first so slow drift of the machine hits both equally.
    if (raw && i % 2 === 1) {
      out.raw.push(await raw());
      out.sw.push(await sw());
    } else {
      out.sw.push(await sw());
      if (raw) out.raw.push(await raw());
    }
    log(`  rep ${i + 1}/${reps} done`);
  }
  return out;
}
