import type { Redis } from 'ioredis';
import { Script } from './script.js';

const script = new Script('sealed-swap', 1);

/**
 * Replace a record (JSON) that holds a sealed value if that value is still `expectedSealed`
 * (see sealed-swap.lua): the `field` of the hash `key`, or, without a field, the string `key`
 * (its time to live kept). True when replaced.
 */
export async function sealedSwap(redis: Redis, a: { key: string; field?: string | undefined; expectedSealed: string; record: string }): Promise<boolean> {
  return (await script.run(redis, [a.key], [a.field ?? '', a.expectedSealed, a.record])) === 1;
}
