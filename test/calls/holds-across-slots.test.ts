/**
 * A run in another cell than the limiter's (the global slot) keeps its holds in its own slot:
 * the limiter's scripts run in the global slot only, and the run's holds are written around
 * them (scaling.md, "Scripts never cross slots"). On one Redis, with two tags, the same
 * bookkeeping as on a cluster: every lease and booked turn the limiter gives is in the run's
 * holds, a settled lease leaves them, and releasing the run gives back the limiter's side too.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LimitPlan, RedisLimiter, type LimiterAnswer, type Ticket } from '../../src/calls/admission/limiter.js';
import { ProviderLimits } from '../../src/model/provider-limits.js';
import { keys } from '../../src/store/keys.js';
import { cellOf, scopeOf } from '../../src/store/scope.js';
import { holdsRelease } from '../../src/store/scripts/index.js';
import { cleanupPrefix, newRedis, testPrefix } from '../helpers/redis.js';

const global = cellOf(testPrefix('holds-global'));
const runCell = cellOf(testPrefix('holds-cell'));
const scope = scopeOf(runCell, 'acme');
let redis: Redis;

const limiter = () =>
  new RedisLimiter(redis, global.tag, new LimitPlan({ openai: ProviderLimits.parse({ models: { 'gpt-apart': { rpm: 300, maxConcurrent: 5 } } }) }));
const target = { provider: 'openai' as const, model: 'gpt-apart' };
const holder = (runId: string, stepId: string) => ({ runId, workspaceId: scope.workspace, tag: scope.tag, stepId, attempt: 1 });
const ticketOf = (a: LimiterAnswer): Ticket => {
  if (!a.granted) throw new Error(`not admitted: ${a.scope} ${a.why}`);
  return a.ticket;
};
const state = keys.limit(global, 'openai/gpt-apart');

beforeAll(() => {
  redis = newRedis();
});
afterAll(async () => {
  await cleanupPrefix(redis, global.tag);
  await cleanupPrefix(redis, runCell.tag);
  await redis.quit();
});

describe('a run whose cell is not the global slot', () => {
  it('holds its leases and booked turns in its own slot, gives back a settled lease, and releases the rest with the limiter’s side first', async () => {
    const l = limiter();
    const first = ticketOf(await l.acquire(target, 1, 60_000, 'run-a.s1.1.x', -1, holder('run-a', 's1')));
    // Its lease is in the limiter (global slot) and in its run's holds (its cell).
    expect(await redis.zcard(keys.limitLeases(global, 'openai/gpt-apart'))).toBe(1);
    const holds = keys.runHolds(scope, 'run-a');
    expect(await redis.zrange(holds, '0', '-1')).toEqual([`l 1 s1 ${first.lease} ${state}`]);
    // Refused for the rate: its turn is booked in the limiter and held by its run.
    const refused = await l.acquire(target, 1, 60_000, 'run-a.s2.1.x', -1, holder('run-a', 's2'));
    expect(refused).toMatchObject({ granted: false, booked: true });
    expect(await redis.zrange(`${state}:bookings`, '0', '-1')).toEqual(['run-a.s2.1.x']);
    expect(await redis.zrange(holds, '0', '-1')).toContain(`b 1 s2 run-a.s2.1.x ${state}`);
    // No lease of the refused call is left held.
    expect((await redis.zrange(holds, '0', '-1')).filter((e) => e.startsWith('l 1 s2'))).toEqual([]);
    // Settled: the lease leaves both sides.
    await l.settle(first, { result: 'ok', usedTokens: 1 });
    expect(await redis.zcard(keys.limitLeases(global, 'openai/gpt-apart'))).toBe(0);
    expect(await redis.zrange(holds, '0', '-1')).toEqual([`b 1 s2 run-a.s2.1.x ${state}`]);
    // The run ends: its booked turn leaves the limiter and its holds are gone.
    expect(await holdsRelease(redis, scope, 'run-a', {}, global)).toBe(1);
    expect(await redis.zcard(`${state}:bookings`)).toBe(0);
    expect(await redis.exists(holds)).toBe(0);
  });
});
