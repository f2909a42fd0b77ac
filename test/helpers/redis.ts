/**
 * Test isolation on the shared Redis: every test file gets its own key prefix, and
 * `cleanupPrefix` deletes only that prefix's keys (never FLUSHALL).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** `label` with a random suffix: a marker, key or input no other run in the shared Redis uses. */
export const unique = (label: string): string => `${label}-${randomBytes(4).toString('hex')}`;

/** A fresh BullMQ-compatible prefix (a Redis Cluster hash tag) for one test file. */
export function testPrefix(name: string): string {
  return `{sytest-${unique(name)}}`;
}

export function newRedis(url = REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/** Delete every key under `prefix`. */
export async function cleanupPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
