/**
 * Which queues live worker processes serve, from their heartbeats, and what keeps a queue from
 * handing out jobs (its rate limit). A worker process beats every few seconds; one that has not
 * beaten for `LIVE_MS` counts as gone.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { keys } from './keys.js';

/** How often a worker process beats. */
export const HEARTBEAT_MS = 5_000;
/** A worker process not heard of for this long is gone. */
export const LIVE_MS = 3 * HEARTBEAT_MS;

export class WorkerRegistry {
  constructor(private readonly deps: { redis: Redis; prefix: string; queue: (name: string) => Queue | undefined }) {}

  /** Say that process `id` is alive and serves `queues` (and forget processes long gone). */
  async beat(id: string, queues: readonly string[]): Promise<void> {
    const { redis, prefix } = this.deps;
    const now = Date.now();
    const stale = await redis.zrangebyscore(keys.workers(prefix), '-inf', now - 10 * LIVE_MS);
    const tx = redis.multi().zadd(keys.workers(prefix), now, id).hset(keys.workerQueues(prefix), id, JSON.stringify(queues));
    if (stale.length) tx.zrem(keys.workers(prefix), ...stale).hdel(keys.workerQueues(prefix), ...stale);
    await tx.exec();
  }

  /** A process that stops says so at once. */
  async leave(id: string): Promise<void> {
    const { redis, prefix } = this.deps;
    await redis.multi().zrem(keys.workers(prefix), id).hdel(keys.workerQueues(prefix), id).exec();
  }

  /** The queues some live worker process serves. */
  async liveQueues(now = Date.now()): Promise<Set<string>> {
    const { redis, prefix } = this.deps;
    const ids = await redis.zrangebyscore(keys.workers(prefix), now - LIVE_MS, '+inf');
    if (ids.length === 0) return new Set();
    const lists = await redis.hmget(keys.workerQueues(prefix), ...ids);
    return new Set(lists.flatMap((l) => (l ? (JSON.parse(l) as string[]) : [])));
  }

  /** How long a queue hands out no job because of its rate limit (its own, or a provider's 429), ms; 0 when none. */
  async rateLimitMs(queueName: string): Promise<number> {
    const queue = this.deps.queue(queueName);
    if (!queue) return 0;
    return Math.max(0, await queue.getRateLimitTtl());
  }
}
