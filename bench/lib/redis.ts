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

const globOf = (prefix: string) => `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;

/** Keys still present under any issued prefix (should be 0 after every scenario closed). */
export async function leftoverKeys(): Promise<number> {
  const redis = newRedis('switchyard-bench-check');
  let n = 0;
  try {
    for (const prefix of issuedPrefixes) {
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', globOf(prefix), 'COUNT', 1000);
        cursor = next;
        n += found.length;
      } while (cursor !== '0');
    }
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
  return n;
}

export function newRedis(name = 'switchyard-bench'): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: null, connectionName: name });
}

/** Delete every key under `prefix` (SCAN MATCH prefix*); returns how many were deleted. */
export async function cleanupPrefix(prefix: string): Promise<number> {
  const redis = newRedis('switchyard-bench-cleanup');
  let deleted = 0;
  try {
    // Escape glob characters of the prefix itself (`{`/`}` are literal, `[`/`*`/`?` are not).
    const pattern = globOf(prefix);
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) deleted += await redis.unlink(...found);
    } while (cursor !== '0');
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
  return deleted;
}

export async function redisServerInfo(): Promise<{ version: string; mode: string; cpuSeconds: number }> {
  const redis = newRedis('switchyard-bench-info');
  try {
    const info = await redis.info();
    const field = (k: string) => info.match(new RegExp(`^${k}:(.*)$`, 'm'))?.[1]?.trim() ?? '?';
    return {
      version: field('redis_version'),
      mode: field('redis_mode'),
      cpuSeconds: Number(field('used_cpu_user')) + Number(field('used_cpu_sys')),
    };
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** Redis server CPU seconds (user+sys) so far; the delta over a window is Redis' share of the work. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const f = (k: string) => Number(info.match(new RegExp(`^${k}:(.*)$`, 'm'))?.[1] ?? 'NaN');
  return f('used_cpu_user') + f('used_cpu_sys');
}
