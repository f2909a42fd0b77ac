/** One measured repetition: the scenario's own figure plus process and Redis load over it. */
import type { Redis } from 'ioredis';
import { startLoadSample } from './profile.js';
import { redisCpuSeconds } from './redis.js';
import { median } from './util.js';

export interface Sample<T> {
  value: T;
  /** Event-loop utilisation of this process, 0..1. */
  elu: number;
  /** CPU ms of this process (all threads). */
  cpuMs: number;
  /** CPU ms of the Redis server (global: includes anything else using this Redis). */
  redisCpuMs: number;
}

/** Measure `fn`; it may call `mark()` when the measured work is over (before its own bookkeeping). */
export async function sampled<T>(info: Redis, fn: (mark: () => void) => Promise<T>): Promise<Sample<T>> {
  const r0 = await redisCpuSeconds(info);
  const load = startLoadSample();
  let l: ReturnType<typeof load.stop> | undefined;
  const value = await fn(() => {
    l ??= load.stop();
  });
  l ??= load.stop();
  const r1 = await redisCpuSeconds(info);
  return { value, elu: l.elu, cpuMs: l.cpuMs, redisCpuMs: (r1 - r0) * 1000 };
}

/** "ELU 0.93, node CPU 410 ms, redis CPU 120 ms" (medians). */
export function loadLine(label: string, samples: Sample<unknown>[], per?: { n: number; unit: string }): string {
  const elu = median(samples.map((s) => s.elu));
  const cpu = median(samples.map((s) => s.cpuMs));
  const rcpu = median(samples.map((s) => s.redisCpuMs));
  const perTxt = per ? ` (node ${(cpu / per.n).toFixed(3)} ms/${per.unit}, redis ${(rcpu / per.n).toFixed(3)} ms/${per.unit})` : '';
  return `${label}: event-loop utilisation ${elu.toFixed(2)}, node CPU ${cpu.toFixed(0)} ms, redis CPU ${rcpu.toFixed(0)} ms${perTxt}`;
}
