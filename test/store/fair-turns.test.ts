/**
 * The fair turns of new jobs on one queue (fair-turns.lua), on the real Redis beside a real
 * BullMQ queue holding the jobs with the priorities it gave: plain jobs while the pool keeps
 * up, a newcomer next to the head, a workspace's backlog behind its own, a cancelled backlog
 * forgotten, everything forgotten once the queue drains, and BullMQ's priority bound kept.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keys } from '../../src/store/keys.js';
import { RunStore } from '../../src/store/run-store.js';
import { cellOf, scopeOf } from '../../src/store/scope.js';
import { cleanupPrefix, newRedis, testPrefix } from '../helpers/redis.js';

const prefix = testPrefix('fair-turns');
const cell = cellOf(prefix);
const QUEUE = 'agent.pool';
let redis: Redis;
let store: RunStore;
let queue: Queue;
let seq = 0;

beforeAll(() => {
  redis = newRedis();
  store = new RunStore({ redis, retentionSeconds: 600, outbox: false });
  queue = new Queue(QUEUE, { connection: redis, prefix });
});

beforeEach(async () => {
  await queue.obliterate({ force: true });
  await redis.del(keys.fairTurns(cell, QUEUE));
});

afterAll(async () => {
  await queue.close();
  store.close();
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

/** The ids of the jobs `add` added last. */
let added: string[] = [];

/** `n` new jobs of `ws` take their turns and are added with them; returns the priorities. */
async function add(ws: string, n: number, share = 1): Promise<number[]> {
  added = Array.from({ length: n }, () => `job${++seq}`);
  const turns = await store.fair.take(scopeOf(cell, ws), QUEUE, added, share);
  await Promise.all(added.map((id, i) => queue.add('step', {}, { jobId: id, ...(turns[i] ? { priority: turns[i] } : {}) })));
  return turns;
}

const removeAdded = () => Promise.all(added.map((id) => queue.remove(id)));

describe('fair turns on one queue', () => {
  it('sends jobs plain while the pool keeps up, then gives turns', async () => {
    const before = Date.now();
    expect(await add('a', 5, 2)).toEqual([0, 0, 1, 2, 3]);
    // The state notes the last turn's job and its time in ms (integer text, Redis' clock: this machine's).
    const state = await redis.hgetall(keys.fairTurns(cell, QUEUE));
    expect(state).toMatchObject({ v: '0', 'f:a': '3', 'j:a': added[4] });
    expect(state['t:a']).toMatch(/^[1-9]\d{12}$/);
    expect(Number(state['t:a'])).toBeGreaterThanOrEqual(before - 1000);
    expect(Number(state['t:a'])).toBeLessThanOrEqual(Date.now() + 1000);
    expect(await redis.ttl(keys.fairTurns(cell, QUEUE))).toBeGreaterThan(86_000);
  });

  it("puts a newcomer next to the head and a workspace's new jobs behind its own backlog", async () => {
    expect(await add('a', 4)).toEqual([0, 1, 2, 3]);
    const served = added.slice(1, 3);
    expect(await add('b', 2)).toEqual([1, 2]);
    const bs = added;
    expect(await add('a', 1)).toEqual([4]);
    // The head moves on as BullMQ serves it: a newcomer joins the head, not the start.
    await Promise.all([...served, ...bs].map((id) => queue.remove(id)));
    expect(await add('c', 1)).toEqual([3]);
  });

  it("forgets a workspace's backlog once its last job is gone (a cancel), but not a moment after its turn", async () => {
    expect(await add('b', 3)).toEqual([0, 1, 2]);
    expect(await add('a', 3)).toEqual([1, 2, 3]);
    await removeAdded();
    // Its last job is gone, but its turn was given a moment ago (its flow may be on its way).
    expect(await add('a', 1)).toEqual([4]);
    await removeAdded();
    await redis.hset(keys.fairTurns(cell, QUEUE), 't:a', String(Date.now() - 10_000));
    expect(await add('a', 1)).toEqual([1]);
  });

  it('starts every workspace again from 1 once nothing is prioritized', async () => {
    await add('a', 3);
    await queue.obliterate({ force: true });
    expect(await add('a', 2)).toEqual([0, 1]);
    expect(await redis.hget(keys.fairTurns(cell, QUEUE), 'f:a')).toBe('1');
  });

  it("keeps within BullMQ's priority bound", async () => {
    await add('a', 2);
    await redis.hset(keys.fairTurns(cell, QUEUE), 'f:a', '2097150');
    expect(await add('a', 3)).toEqual([2097151, 2097151, 2097151]);
  });
});
