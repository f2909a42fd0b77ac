/**
 * Which queues live worker processes serve, from their heartbeats, and what keeps a queue from
 * handing out jobs (its rate limit). A worker process beats every `heartbeatMs`; one that has
 * not beaten for three beats counts as gone. A beat also names the process's BullMQ workers,
 * so a step's job lock (which names the worker holding it) tells whether its process is alive.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { keys } from './keys.js';

/** How often a worker process beats, by default (SWITCHYARD_HEARTBEAT_MS). */
export const HEARTBEAT_MS = 5_000;
/** A worker process not heard of for this many beats is gone. */
const LIVE_BEATS = 3;

/** What a heartbeat says of a process: the queues it serves and its BullMQ worker ids. */
interface Beat {
  queues: string[];
  workers: string[];
}

/** Who holds a job's lock: the BullMQ worker (and its process, when known), and for how long still. */
export interface JobLock {
  worker: string;
  /** The process that worker belongs to, and when it last beat (ms); null when no beat names it. */
  process: { id: string; lastBeat: number } | null;
  ttlMs: number;
}

export class WorkerRegistry {
  /** How often a process beats, ms. */
  readonly heartbeatMs: number;
  /** A process silent this long is gone, ms. */
  readonly liveMs: number;

  constructor(private readonly deps: { redis: Redis; prefix: string; queue: (name: string) => Queue | undefined; heartbeatMs?: number }) {
    this.heartbeatMs = deps.heartbeatMs ?? HEARTBEAT_MS;
    this.liveMs = LIVE_BEATS * this.heartbeatMs;
  }

  /** Say that process `id` is alive and serves `queues` with its BullMQ `workers` (and forget processes long gone). */
  async beat(id: string, queues: readonly string[], workers: readonly string[] = []): Promise<void> {
    const { redis, prefix } = this.deps;
    const now = Date.now();
    const stale = await redis.zrangebyscore(keys.workers(prefix), '-inf', now - 10 * this.liveMs);
    const beat: Beat = { queues: [...queues], workers: [...workers] };
    const tx = redis.multi().zadd(keys.workers(prefix), now, id).hset(keys.workerQueues(prefix), id, JSON.stringify(beat));
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
    const ids = await redis.zrangebyscore(keys.workers(prefix), now - this.liveMs, '+inf');
    if (ids.length === 0) return new Set();
    const beats = await redis.hmget(keys.workerQueues(prefix), ...ids);
    return new Set(beats.flatMap((b) => parseBeat(b).queues));
  }

  /**
   * Who holds the lock of each job (null: no lock held), in one round trip: BullMQ's lock holds
   * its worker's token, `<worker id>:<n>`, and the heartbeats name each process's workers.
   */
  async jobLocks(jobs: readonly { queue: string; jobId: string }[]): Promise<(JobLock | null)[]> {
    if (jobs.length === 0) return [];
    const { redis, prefix } = this.deps;
    const pipe = redis.pipeline().zrange(keys.workers(prefix), '0', '-1', 'WITHSCORES').hgetall(keys.workerQueues(prefix));
    for (const j of jobs) pipe.get(keys.jobLock(prefix, j.queue, j.jobId)).pttl(keys.jobLock(prefix, j.queue, j.jobId));
    const replies = ((await pipe.exec()) ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    });
    const [scores, beats, ...locks] = replies as [string[], Record<string, string>, ...(string | number | null)[]];
    const lastBeat = new Map<string, number>();
    for (let i = 0; i + 1 < scores.length; i += 2) lastBeat.set(scores[i]!, Number(scores[i + 1]));
    const processOf = new Map<string, string>();
    for (const [id, beat] of Object.entries(beats)) for (const w of parseBeat(beat).workers) processOf.set(w, id);
    return jobs.map((_, i) => {
      const token = locks[2 * i] as string | null;
      if (!token) return null;
      const worker = token.slice(0, token.lastIndexOf(':'));
      const id = processOf.get(worker);
      const beat = id === undefined ? undefined : lastBeat.get(id);
      return { worker, process: id !== undefined && beat !== undefined ? { id, lastBeat: beat } : null, ttlMs: Math.max(0, Number(locks[2 * i + 1])) };
    });
  }

  /** How long a queue hands out no job because of its rate limit (its own, or a provider's 429), ms; 0 when none. */
  async rateLimitMs(queueName: string): Promise<number> {
    const queue = this.deps.queue(queueName);
    if (!queue) return 0;
    return Math.max(0, await queue.getRateLimitTtl());
  }
}

/** A heartbeat's value: `{queues, workers}` (a bare list of queues from a process of an earlier version). */
function parseBeat(value: string | null | undefined): Beat {
  if (!value) return { queues: [], workers: [] };
  const parsed = JSON.parse(value) as Beat | string[];
  return Array.isArray(parsed) ? { queues: parsed, workers: [] } : parsed;
}
