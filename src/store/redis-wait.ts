/**
 * Start-up's wait for Redis: one line saying where it tries to connect (password hidden), then
 * quiet retries with backoff, and a StartupError naming the last failure once `timeoutMs` has
 * passed. Nothing else connects before Redis answers, so an outage at start-up prints no
 * stack traces.
 */
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { StartupError } from '../errors/index.js';
import type { Logger } from '../logger.js';

/** `redis://user:secret@host:6379/0` → `redis://user:***@host:6379/0`. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

export async function waitForRedis(url: string, opts: { timeoutMs: number; logger: Logger }): Promise<void> {
  const where = redactRedisUrl(url);
  const deadline = Date.now() + opts.timeoutMs;
  let delay = 100;
  let said = false;
  for (;;) {
    const probe = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 2_000,
      connectionName: 'switchyard-probe',
    });
    probe.on('error', () => undefined); // reported below, once
    try {
      await probe.connect();
      await probe.ping();
      if (said) opts.logger.info({ redis: where }, 'Redis answers');
      return;
    } catch (err) {
      const reason = (err as Error).message;
      if (Date.now() + delay > deadline) {
        throw new StartupError(`Redis at ${where} did not answer within ${opts.timeoutMs} ms (SWITCHYARD_REDIS_WAIT_MS): ${reason}`);
      }
      if (!said) {
        opts.logger.warn({ redis: where, err: reason }, `Redis at ${where} does not answer (${reason}); retrying for up to ${opts.timeoutMs} ms`);
        said = true;
      }
    } finally {
      probe.disconnect();
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 2_000);
  }
}
