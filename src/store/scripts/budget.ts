import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const reserve = new Script('budget-reserve', 2);
const settle = new Script('budget-settle', 3);

/** Which attempt of which step a call belongs to: what it holds is released with that attempt or step. */
export interface HoldOwner {
  stepId: string;
  attempt: number;
}

/**
 * One call's reservation: its estimate, the attempt it belongs to, and its lease (an id, and
 * how long it lives if its call never settles: its step's timeout and a margin).
 */
export interface BudgetReservation {
  tokens: number;
  costUsd: number;
  owner: HoldOwner;
  lease: string;
  leaseMs: number;
}

/** Reserve a call's estimate against the run's budget; returns why it is refused, or '' when reserved. */
export async function budgetReserve(redis: Redis, scope: Scope, runId: string, r: BudgetReservation): Promise<string> {
  const args = [r.tokens, r.costUsd, r.owner.attempt, r.owner.stepId, r.lease, Math.max(1, Math.round(r.leaseMs))];
  return (await reserve.run(redis, [keys.run(scope, runId), keys.runHolds(scope, runId)], args)) as string;
}

/** Release a reservation (unless it was released already) and count what the call used; returns why the budget is now exceeded, or ''. */
export async function budgetSettle(
  redis: Redis,
  scope: Scope,
  runId: string,
  r: BudgetReservation,
  used: { tokens: number; costUsd: number },
): Promise<string> {
  const args = [r.tokens, r.costUsd, used.tokens, used.costUsd, new Date().toISOString(), r.owner.attempt, r.owner.stepId, r.lease];
  return (await settle.run(redis, [keys.run(scope, runId), keys.events(scope, runId), keys.runHolds(scope, runId)], args)) as string;
}
