import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const script = new Script('secret-swap', 1);

/** Replace a workspace secret's record (JSON) if its sealed value is still `expectedSealed` (see secret-swap.lua). True when replaced. */
export async function secretSwap(redis: Redis, a: { scope: Scope; name: string; expectedSealed: string; record: string }): Promise<boolean> {
  return (await script.run(redis, [keys.secrets(a.scope)], [a.name, a.expectedSealed, a.record])) === 1;
}
