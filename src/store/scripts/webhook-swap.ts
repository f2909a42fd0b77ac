import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const script = new Script('webhook-swap', 1);

/**
 * Replace a webhook's record (JSON) if its sealed secret is still `expectedSealed` (see
 * webhook-swap.lua): a subscription by `id`, or, with `runId`, a run's own webhook (its time to
 * live kept). True when replaced.
 */
export async function webhookSwap(
  redis: Redis,
  a: { scope: Scope; id: string; runId?: string | undefined; expectedSealed: string; record: string },
): Promise<boolean> {
  const [key, field] = a.runId === undefined ? [keys.webhooks(a.scope), a.id] : [keys.runWebhook(a.scope, a.runId), ''];
  return (await script.run(redis, [key], [field, a.expectedSealed, a.record])) === 1;
}
