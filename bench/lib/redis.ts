/**
 * Redis plumbing for the benchmark: a fresh key prefix per scenario (a Redis Cluster hash tag,
 * never shared with tests or other runs) and prefix-scoped cleanup (never FLUSHALL).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Every prefix handed out in this process, to check at the end that none left keys behind. */
export const issuedPrefixes: string[] = [];

export function benchPrefix(name: string): string {
  const prefix = `{bench-${name}-${randomBytes(4).toString('hex')}}`;
  issuedPrefixes.push(prefix);
  return prefix;
}

/** The keys under `prefix`, a SCAN batch at a time. Glob characters of the prefix itself are
 * escaped (`{`/`}` are literal, `[`/`*`/`?` are not). */
async function* scanPrefix(redis: Redis, prefix: string): AsyncGenerator<string[]> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) yield found;
  } while (cursor !== '0');
}

/** A field of an INFO reply, or undefined. */
const infoField = (info: string, key: string): string | undefined => info.match(new RegExp(`^${key}:(.*)$`, 'm'))?.[1]?.trim();

/** Keys still present under any issued prefix (should be 0 after every scenario closed). */
export async function leftoverKeys(): Promise<number> {
  const redis = newRedis('switchyard-bench-check');
  let n = 0;
  try {
    for (const prefix of issuedPrefixes) for await (const found of scanPrefix(redis, prefix)) n += found.length;
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
  return n;
}

/** A connection to the bench's Redis, or to `url` (a Redis of a scenario's own). */
export function newRedis(name = 'switchyard-bench', url = REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectionName: name });
}

/** The name of the connection that deletes a prefix's keys (a scenario reading SLOWLOG leaves its commands out). */
export const CLEANUP_CLIENT = 'switchyard-bench-cleanup';

/** Delete every key under `prefix` (SCAN MATCH prefix*); returns how many were deleted. */
export async function cleanupPrefix(prefix: string, url = REDIS_URL): Promise<number> {
  const redis = newRedis(CLEANUP_CLIENT, url);
  let deleted = 0;
  try {
    for await (const found of scanPrefix(redis, prefix)) deleted += await redis.unlink(...found);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
  return deleted;
}

export async function redisServerInfo(): Promise<{ version: string; mode: string }> {
  const redis = newRedis('switchyard-bench-info');
  try {
    const info = await redis.info('server');
    return { version: infoField(info, 'redis_version') ?? '?', mode: infoField(info, 'redis_mode') ?? '?' };
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** Redis server CPU seconds (user+sys) so far; the delta over a window is Redis' share of the work. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const f = (k: string) => Number(infoField(info, k) ?? 'NaN');
  return f('used_cpu_user') + f('used_cpu_sys');
}

/** CPU seconds (user+sys) of Redis' main thread so far (where commands and scripts run); the whole process' where Redis does not say. */
export async function redisMainThreadCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const f = (k: string) => Number(infoField(info, k) ?? 'NaN');
  const main = f('used_cpu_user_main_thread') + f('used_cpu_sys_main_thread');
  return Number.isFinite(main) ? main : f('used_cpu_user') + f('used_cpu_sys');
}

/** Calls and microseconds of each command so far (`INFO commandstats`; a script's own commands are counted too). */
export async function redisCommandStats(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const info = await redis.info('commandstats');
  const out = new Map<string, { calls: number; usec: number }>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  return out;
}
