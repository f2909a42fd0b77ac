/**
 * Which queues live worker processes serve, from their heartbeats, and what keeps a queue from
 * handing out jobs (its rate limit). A worker process beats every `heartbeatMs` (its own
 * setting, written in its beat); one that has not beaten for three of its beats counts as gone,
 * whatever the interval of the process that asks. A beat also names the process's BullMQ
 * workers, so a step's job lock (which names the worker holding it) tells whether its process
 * is alive. One registry serves one cell (its heartbeats, and the queues it looks at).
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { keys } from './keys.js';
import type { Cell, Scope } from './scope.js';
import { parseJson } from './scripts/index.js';
import type { StepStatus } from '../model/run.js';

/** How often a worker process beats, by default (SWITCHYARD_HEARTBEAT_MS). */
export const HEARTBEAT_MS = 5_000;
/** A worker process not heard of for this many beats is gone. */
const LIVE_BEATS = 3;
/** A process not heard of for this many of its beats is forgotten. */
const FORGET_BEATS = 30;

/** What a heartbeat says of a process: the queues it serves, its BullMQ worker ids, and how often it beats (ms). */
interface Beat {
  queues: string[];
  workers: string[];
  /** Absent in a beat of an earlier version: judged by the reader's own interval. */
  heartbeatMs?: number;
}

/** Who holds a job's lock: the BullMQ worker (and its process, when known), and for how long still. */
export interface JobLock {
  worker: string;
  /** The process that worker belongs to, when it last beat (ms), and how long it may be silent before it is lost (ms); null when no beat names it. */
  process: { id: string; lastBeat: number; liveMs: number } | null;
  ttlMs: number;
}

/** A running step's job, and which step of its run it is (its status is read with the lock). */
export interface StepJob {
  queue: string;
  jobId: string;
  runId: string;
  stepId: string;
}

/** The heartbeats of a cell's worker processes (a worker process runs BullMQ workers; see the module header). */
export class Heartbeats {
  /** How often this process beats, ms. */
  readonly heartbeatMs: number;
  /** This process is gone once silent this long, ms (others: by their own beat). */
  readonly liveMs: number;

  constructor(private readonly deps: { redis: Redis; cell: Cell; queue: (name: string) => Queue | undefined; heartbeatMs?: number }) {
    this.heartbeatMs = deps.heartbeatMs ?? HEARTBEAT_MS;
    this.liveMs = LIVE_BEATS * this.heartbeatMs;
  }

  /** Say that process `id` is alive and serves `queues` with its BullMQ `workers` (and forget processes long gone). */
  async beat(id: string, queues: readonly string[], workers: readonly string[] = []): Promise<void> {
    const { redis, cell } = this.deps;
    const now = Date.now();
    const stale = [...(await this.processes())].filter(([, p]) => p.lastBeat < now - FORGET_BEATS * p.heartbeatMs).map(([other]) => other);
    const beat: Beat = { queues: [...queues], workers: [...workers], heartbeatMs: this.heartbeatMs };
    const tx = redis.multi().zadd(keys.workers(cell), now, id).hset(keys.workerQueues(cell), id, JSON.stringify(beat));
    if (stale.length) tx.zrem(keys.workers(cell), ...stale).hdel(keys.workerQueues(cell), ...stale);
    await tx.exec();
  }

  /** A process that stops says so at once. */
  async leave(id: string): Promise<void> {
    const { redis, cell } = this.deps;
    await redis.multi().zrem(keys.workers(cell), id).hdel(keys.workerQueues(cell), id).exec();
  }

  /** The queues some live worker process serves. */
  async liveQueues(now = Date.now()): Promise<Set<string>> {
    const live = [...(await this.processes())].filter(([, p]) => p.lastBeat >= now - LIVE_BEATS * p.heartbeatMs);
    return new Set(live.flatMap(([, p]) => p.queues));
  }

  /**
   * Who holds the lock of each running step's job (null: no lock held), and the step's status
   * read in the same round trip: a step that finished between the caller's read of it and this
   * one has released its lock, and must not be taken for one whose worker was lost. BullMQ's
   * lock holds its worker's token, `<worker id>:<n>`, and the heartbeats name each process's workers.
   * `scope`: the scope of the jobs' runs.
   */
  async jobLocks(scope: Scope, jobs: readonly StepJob[]): Promise<{ lock: JobLock | null; status: StepStatus | null }[]> {
    if (jobs.length === 0) return [];
    const { redis, cell } = this.deps;
    const pipe = redis.pipeline().zrange(keys.workers(cell), '0', '-1', 'WITHSCORES').hgetall(keys.workerQueues(cell));
    for (const j of jobs)
      pipe
        .get(keys.jobLock(cell, j.queue, j.jobId))
        .pttl(keys.jobLock(cell, j.queue, j.jobId))
        .hget(keys.step(scope, j.runId, j.stepId), 'status');
    const replies = ((await pipe.exec()) ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    });
    const [scores, beats, ...rest] = replies as [string[], Record<string, string>, ...(string | number | null)[]];
    const processes = this.fromReplies(scores, beats);
    const processOf = new Map<string, string>();
    for (const [id, p] of processes) for (const w of p.workers) processOf.set(w, id);
    return jobs.map((_, i) => {
      const [token, ttl, status] = rest.slice(3 * i, 3 * i + 3) as [string | null, number, string | null];
      const stepStatus = parseJson<StepStatus | null>(status);
      if (!token) return { lock: null, status: stepStatus };
      const worker = token.slice(0, token.lastIndexOf(':'));
      const id = processOf.get(worker);
      const p = id === undefined ? undefined : processes.get(id);
      const process = id !== undefined && p ? { id, lastBeat: p.lastBeat, liveMs: LIVE_BEATS * p.heartbeatMs } : null;
      return { lock: { worker, process, ttlMs: Math.max(0, Number(ttl)) }, status: stepStatus };
    });
  }

  /** How long a queue hands out no job because of its rate limit (its own, or a provider's 429), ms; 0 when none. */
  async rateLimitMs(queueName: string): Promise<number> {
    const queue = this.deps.queue(queueName);
    if (!queue) return 0;
    return Math.max(0, await queue.getRateLimitTtl());
  }

  /** Every process that has beaten (and not been forgotten), by id. */
  private async processes(): Promise<Map<string, Beat & { lastBeat: number; heartbeatMs: number }>> {
    const { redis, cell } = this.deps;
    const replies = (await redis.pipeline().zrange(keys.workers(cell), '0', '-1', 'WITHSCORES').hgetall(keys.workerQueues(cell)).exec()) ?? [];
    const [[e1, scores], [e2, beats]] = replies as [[Error | null, string[]], [Error | null, Record<string, string>]];
    const err = e1 ?? e2;
    if (err) throw err;
    return this.fromReplies(scores, beats);
  }

  private fromReplies(scores: readonly string[], beats: Record<string, string>): Map<string, Beat & { lastBeat: number; heartbeatMs: number }> {
    const out = new Map<string, Beat & { lastBeat: number; heartbeatMs: number }>();
    for (let i = 0; i + 1 < scores.length; i += 2) {
      const id = scores[i]!;
      const beat = parseBeat(beats[id]);
      out.set(id, { ...beat, lastBeat: Number(scores[i + 1]), heartbeatMs: beat.heartbeatMs ?? this.heartbeatMs });
    }
    return out;
  }
}

/** A heartbeat's value: `{queues, workers, heartbeatMs}` (a bare list of queues from a process of an earlier version). */
function parseBeat(value: string | null | undefined): Beat {
  if (!value) return { queues: [], workers: [] };
  const parsed = JSON.parse(value) as Beat | string[];
  return Array.isArray(parsed) ? { queues: parsed, workers: [] } : parsed;
}
