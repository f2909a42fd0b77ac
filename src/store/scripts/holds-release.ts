import type { Redis } from 'ioredis';
import { envelopeLeasesOf, keys } from '../keys.js';
import type { Cell, Scope } from '../scope.js';
import { isTerminalStep, type StepStatus } from '../../model/run.js';
import { Script } from './script.js';

const release = new Script('holds-release', 'any');

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

/** Release what a run's provider calls hold in the limiter and against its budget; returns how many holds were released. */
export async function holdsRelease(redis: Redis, scope: Scope, runId: string, which: HoldsSelection = {}): Promise<number> {
  if (which.steps && which.steps.length === 0) return 0;
  const holds = keys.runHolds(scope, runId);
  let released = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // The script is given every key it touches: the limit scopes its holds name, read first (a
    // run that holds nothing, most of them, costs this one read).
    const entries = await redis.zrange(holds, '0', '-1');
    if (entries.length === 0) break;
    const limitIds = limitScopesOf(scope, entries);
    const args = [which.belowAttempt ?? 0, limitIds.length, ...(which.steps ?? [])];
    const [n, left] = (await release.run(
      redis,
      [
        holds,
        keys.run(scope, runId),
        ...limitIds.flatMap((id) => [keys.limit(scope, id), keys.limitBookings(scope, id), keys.limitLeases(scope, id)]),
        ...envelopeDaysOf(entries).flatMap((day) => [day, envelopeLeasesOf(day)]),
      ],
      args,
    )) as [number, number];
    released += n;
    if (left === 0) break;
  }
  return released;
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

/** The envelope days a run's reservations hold (`r <attempt> <step id> <lease> <tokens> <cost> <day key>...`). */
function envelopeDaysOf(entries: readonly string[]): string[] {
  const days = new Set<string>();
  for (const e of entries) {
    const m = /^r \d+ \S+ \S+ \S+ \S+ (.+)$/.exec(e);
    if (m?.[1]) for (const day of m[1].split(' ')) days.add(day);
  }
  return [...days];
}
