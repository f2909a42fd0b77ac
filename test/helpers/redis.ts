/**
 * Test isolation on the shared Redis: every test file gets its own key prefix, and
 * `cleanupPrefix` deletes only that prefix's keys (never FLUSHALL).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** `label` with a random suffix: a marker, key or input no other run in the shared Redis uses. */
export const unique = (label: string): string => `${label}-${randomBytes(4).toString('hex')}`;

/** Every prefix this test file made: none may hold a key when the file ends (test/helpers/leak-check.ts). */
const made = new Set<string>();

/** A fresh BullMQ-compatible prefix (a Redis Cluster hash tag) for one test file. */
export function testPrefix(name: string): string {
  const prefix = `{sytest-${unique(name)}}`;
  made.add(prefix);
  return prefix;
}

/**
 * Forget the prefixes made so far (test/helpers/leak-check.ts, once a file's are checked): the
 * files of one test worker share this module, and a file answers only for its own prefixes.
 */
export function forgetPrefixes(): void {
  made.clear();
}

/** The prefixes this test file made, and the keys still under each in the shared test Redis. */
export async function keysLeft(): Promise<Map<string, string[]>> {
  const left = new Map<string, string[]>();
  if (made.size === 0) return left;
  // One scan for all of them: `{sytest-<name>-<hex>}` up to its closing brace.
  for (const key of await keysUnder('{sytest-')) {
    const prefix = key.slice(0, key.indexOf('}') + 1);
    if (made.has(prefix)) left.set(prefix, [...(left.get(prefix) ?? []), key]);
  }
  return left;
}

export function newRedis(url = REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/** The keys under `prefix` in the shared test Redis (sorted). */
export async function keysUnder(prefix: string, url = REDIS_URL): Promise<string[]> {
  const redis = newRedis(url);
  try {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
    return found.sort();
  } finally {
    await redis.quit();
  }
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

/** Every key under `prefix` with its value as text (`<type> <JSON>`), whatever its type: what a scan for leaked secrets reads. */
export async function dumpKeys(redis: Redis, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of found) {
      const type = await redis.type(key);
      const value =
        type === 'string'
          ? await redis.get(key)
          : type === 'hash'
            ? await redis.hgetall(key)
            : type === 'list'
              ? await redis.lrange(key, 0, -1)
              : type === 'set'
                ? await redis.smembers(key)
                : type === 'zset'
                  ? await redis.zrange(key, '0', '-1', 'WITHSCORES')
                  : type === 'stream'
                    ? await redis.xrange(key, '-', '+')
                    : null;
      out.set(key, `${type} ${JSON.stringify(value)}`);
    }
  } while (cursor !== '0');
  return out;
}
