import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import { Script } from './script.js';

const reserve = new Script('budget-reserve', 1);
const settle = new Script('budget-settle', 2);

/** Reserve `tokens` and `costUsd` against the run's budget; returns why it is refused, or '' when reserved. */
export async function budgetReserve(redis: Redis, prefix: string, runId: string, tokens: number, costUsd: number): Promise<string> {
  return (await reserve.run(redis, [keys.run(prefix, runId)], [tokens, costUsd])) as string;
}

/** Release a reservation and count what the call used; returns why the budget is now exceeded, or ''. */
export async function budgetSettle(redis: Redis, prefix: string, runId: string, reserved: { tokens: number; costUsd: number }, used: { tokens: number; costUsd: number }): Promise<string> {
  return (await settle.run(redis, [keys.run(prefix, runId), keys.events(prefix, runId)], [reserved.tokens, reserved.costUsd, used.tokens, used.costUsd, new Date().toISOString()])) as string;
}

