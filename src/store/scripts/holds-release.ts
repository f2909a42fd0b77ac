import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Cell, Scope } from '../scope.js';
import { isTerminalStep, type StepStatus } from '../../model/run.js';
import { Script } from './script.js';

const release = new Script('holds-release', 'any');
/** The limiter's side of a release, in the global slot, when the run is in another cell. */
const limiterRelease = new Script('limiter-release', 'any');

/** Which of a run's holds to release: all (the run ended), some steps' (cancelled), or one step's attempts before `belowAttempt` (recovered). */
export type HoldsSelection = { steps?: readonly string[]; belowAttempt?: number };

/**
 * What a delivery of step `stepId` running `attempt` gives back when it stops because the step
 * is no longer its own (`status`: the step's now): a turn it was given as its run ended (after
 * the run's holds were released), and whatever else it still holds. All of the step's holds
 * once the step has ended; else only those of this attempt and earlier ones (a later attempt,
 * which runs the step now, keeps its own).
 */
export function deliveryHolds(stepId: string, attempt: number, status: StepStatus | 'missing'): HoldsSelection {
  return { steps: [stepId], ...(status === 'missing' || isTerminalStep(status) ? {} : { belowAttempt: attempt + 1 }) };
}

/** Reads of the holds before the release: a hold in a scope added between a read and its release is released in the next round. */
const ROUNDS = 3;

/**
 * Release what a run's provider calls hold in the limiter (its keys in `global`: the global slot,
 * by default the run's own cell) and against its budget; returns how many holds were released.
 * When the run's cell is not the global slot, no script may touch both: the limiter's side is
 * released first (limiter-release, in the global slot), then the run's (its holds and
 * reservations). The limiter is authoritative for what is held; a crash in between leaves hold
 * entries whose release changes nothing there, taken out by the next release.
 */
export async function holdsRelease(redis: Redis, scope: Scope, runId: string, which: HoldsSelection = {}, global: Cell = scope): Promise<number> {
  if (which.steps && which.steps.length === 0) return 0;
  const holds = keys.runHolds(scope, runId);
  const apart = global.tag !== scope.tag;
  let released = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // The script is given every key it touches: the limit scopes its holds name, read first (a
    // run that holds nothing, most of them, costs this one read).
    const entries = await redis.zrange(holds, '0', '-1');
    if (entries.length === 0) break;
    const limitIds = limitScopesOf(global, entries);
    const scopeKeys = limitIds.flatMap((id) => [keys.limit(global, id), keys.limitBookings(global, id), keys.limitLeases(global, id)]);
    if (apart) {
      const chosen = entries.filter((e) => selected(e, which));
      if (scopeKeys.length && chosen.length) await limiterRelease.run(redis, scopeKeys, chosen);
    }
    const args = [which.belowAttempt ?? 0, apart ? '1' : '0', ...(which.steps ?? [])];
    const [n, left] = (await release.run(redis, [holds, keys.run(scope, runId), ...(apart ? [] : scopeKeys)], args)) as [number, number];
    released += n;
    if (left === 0) break;
  }
  return released;
}

/** Is this hold (holdEntry's format) one `which` releases (as holds-release.lua selects)? */
function selected(entry: string, which: HoldsSelection): boolean {
  const m = /^[a-z] (\d+) (\S+) /.exec(entry);
  if (!m) return false;
  if (!which.steps) return true;
  return which.steps.includes(m[2]!) && (!which.belowAttempt || Number(m[1]) < which.belowAttempt);
}

/**
 * The limit scopes a run's holds name (see lua/includes/holdEntry.lua: `<kind> <attempt>
 * <step id> <id> <what>`, `what` a scope's state key for a turn booked or a lease).
 */
function limitScopesOf(cell: Cell, entries: readonly string[]): string[] {
  const statePrefix = keys.limit(cell, '');
  const ids = new Set<string>();
  for (const e of entries) {
    const m = /^[bl] \d+ \S+ \S+ (.+)$/.exec(e);
    if (m?.[1]?.startsWith(statePrefix)) ids.add(m[1].slice(statePrefix.length));
  }
  return [...ids];
}
