/**
 * Each workspace's request rate on the API (SWITCHYARD_API_RATE_PER_WORKSPACE, bursts of
 * SWITCHYARD_API_BURST_PER_WORKSPACE): one atomic script per request in Redis, keyed under the
 * workspace's scope (GCRA, see src/store/scripts/lua/api-rate.lua), so every API process shares
 * the count and one workspace at its limit never slows another. Counted by `authorize`
 * (scope.ts) once the credential is checked; public routes (health checks, /readyz, the login
 * page) and Bull Board's static files are not. Over the limit: 429 with `Retry-After`, logged
 * once per burst and workspace at warn (refusals.ts).
 */
import type { Redis } from 'ioredis';
import type { ApiRateConfig } from '../config/env.js';
import { whileReachable } from '../store/reachable.js';
import type { Scope } from '../store/scope.js';
import { apiRateTake } from '../store/scripts/index.js';
import { HttpError } from './errors.js';
import type { RefusalLog } from './refusals.js';

/** Counts one request of a workspace; throws the 429 when it is over its rate. */
export type Admit = (scope: Scope) => Promise<void>;

const perSecond = (n: number) => `${n} request${n === 1 ? '' : 's'} per second`;

/** The admission of `rate` (a no-op when its rate is 0: no limit). */
export function apiRateLimit(redis: Redis, rate: ApiRateConfig, refusals: RefusalLog): Admit {
  if (rate.perSecond <= 0) return () => Promise.resolve();
  const limit = `${perSecond(rate.perSecond)}, bursts of ${rate.burst}`;
  return async (scope) => {
    const waitMs = await whileReachable(redis, 'the request', () => apiRateTake(redis, scope, rate));
    if (waitMs === 0) return;
    const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
    const message =
      `workspace "${scope.workspace}" is over its API request rate (${limit}: SWITCHYARD_API_RATE_PER_WORKSPACE, ` +
      `SWITCHYARD_API_BURST_PER_WORKSPACE); retry in ${retryAfter} s`;
    refusals.note(`api_rate:${scope.workspace}`, 429, message);
    throw new HttpError(429, 'rate_limited', message, undefined, { 'Retry-After': String(retryAfter) });
  };
}
