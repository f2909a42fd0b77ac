import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const script = new Script('fair-turns', 3);

/** How long a queue's fair state lives after its last write (it is only a tie-breaker once idle). */
export const FAIR_STATE_TTL_S = 86_400;

/**
 * The BullMQ priorities of new jobs of `scope`'s workspace on `queue`, in the order given (see
 * fair-turns.lua): 0 for the plain wait list (nothing is prioritized and fewer than `share`
 * jobs wait), else each job's turn.
 */
export async function fairTurns(redis: Redis, scope: Scope, queue: string, jobIds: readonly string[], share: number): Promise<number[]> {
  if (jobIds.length === 0) return [];
  const base = keys.bullQueueBase(scope, queue);
  const reply = (await script.run(
    redis,
    [keys.fairTurns(scope, queue), `${base}prioritized`, `${base}wait`],
    [scope.workspace, Math.max(1, share), base, FAIR_STATE_TTL_S, ...jobIds],
  )) as number[];
  return reply.map(Number);
}
