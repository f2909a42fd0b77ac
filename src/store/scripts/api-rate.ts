import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const script = new Script('api-rate', 1);

/**
 * Count one API request of `scope`'s workspace against its rate (see api-rate.lua): 0 when
 * admitted, else how long until one would be, in ms (more than 0).
 */
export async function apiRateTake(redis: Redis, scope: Scope, rate: { perSecond: number; burst: number }): Promise<number> {
  const intervalUs = Math.max(1, Math.round(1_000_000 / rate.perSecond));
  const overUs = Number(await script.run(redis, [keys.apiRate(scope)], [intervalUs, rate.burst]));
  return overUs > 0 ? Math.max(1, Math.ceil(overUs / 1000)) : 0;
}
