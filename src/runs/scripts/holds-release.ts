import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import { Script } from './script.js';

const release = new Script('holds-release', 2);

/** Which of a run's holds to release: all (the run ended), some steps' (cancelled), or one step's attempts before `belowAttempt` (recovered). */
export type HoldsSelection = { steps?: readonly string[]; belowAttempt?: number };

/** Release what a run's provider calls hold in the limiter and against its budget; returns how many holds were released. */
export async function holdsRelease(redis: Redis, prefix: string, runId: string, which: HoldsSelection = {}): Promise<number> {
  if (which.steps && which.steps.length === 0) return 0;
  // The scripts get the suffixes of a scope's keys from keys.ts rather than spell them.
  const state = keys.limit(prefix, '');
  const args = [keys.limitBookings(prefix, '').slice(state.length), keys.limitLeases(prefix, '').slice(state.length), which.belowAttempt ?? 0, ...(which.steps ?? [])];
  return (await release.run(redis, [keys.runHolds(prefix, runId), keys.run(prefix, runId)], args)) as number;
}
