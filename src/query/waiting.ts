/**
 * Why a step that is not running waits, as GET /v1/runs/:id tells it: pure, from the run's
 * step records and what the queues say (which ones a live worker serves, which are rate
 * limited until when). And a step recorded running whose worker is lost (its process stopped
 * beating, or its job lock expired): it waits for BullMQ's stalled check to hand it on.
 */
import { z } from 'zod';
import { stepJobId, stepQueueName } from '../store/keys.js';
import type { JobLock, StepJob } from '../store/heartbeats.js';
import { CAPACITY_WAIT, WORKSPACE_CAP_WAIT, awaitsDecision, isTerminalStep, type StepRecord, type StepStatus } from '../model/run.js';

export const WaitingFor = z.discriminatedUnion('reason', [
  /** Dependencies not finished yet. */
  z.object({ reason: z.literal('dependencies'), steps: z.array(z.string()) }),
  /** Steps it added to its run, not finished yet. */
  z.object({ reason: z.literal('children'), steps: z.array(z.string()) }),
  /** An approval gate: a person decides (POST .../approve or /reject), or `deadline` does (null: none). */
  z.object({ reason: z.literal('approval'), deadline: z.string().nullable() }),
  /** No live worker process serves its queue (start one that serves the agent). */
  z.object({ reason: z.literal('no_worker'), queue: z.string(), agent: z.string().nullable() }),
  /** Its queue's rate limit is spent until `until`. */
  z.object({ reason: z.literal('rate_limit'), queue: z.string(), until: z.string() }),
  /** The provider answered 429 (or overloaded): its queue is paused until `until`. */
  z.object({ reason: z.literal('provider_pause'), queue: z.string(), until: z.string() }),
  /** The shared limiter did not admit its provider call (a limit, a pause after a 429, an open circuit): it tries again at `until`. */
  z.object({ reason: z.literal('provider_capacity'), detail: z.string(), until: z.string() }),
  /** One of its workspace's caps holds it (`detail`: which, e.g. `maxRunningSteps 2 of workspace acme (2 running)`): it asks again at `until`. */
  z.object({ reason: z.literal('workspace_cap'), detail: z.string(), until: z.string() }),
  /** An attempt failed; the next one starts at `until`. */
  z.object({ reason: z.literal('retry_backoff'), until: z.string() }),
  /** Queued: a worker takes it when one of its slots is free. */
  z.object({ reason: z.literal('worker_slot'), queue: z.string() }),
  /**
   * Recorded running, but the worker process running it stopped beating (killed, crashed,
   * frozen: `worker` names it) or its job lock expired (`worker` null): BullMQ's stalled check
   * hands it to another worker, as a new attempt, by `until` at the latest (null: no live
   * worker serves its queue; it goes on once one does).
   */
  z.object({ reason: z.literal('worker_lost'), queue: z.string(), worker: z.string().nullable(), until: z.string().nullable() }),
]);
export type WaitingFor = z.infer<typeof WaitingFor>;

export interface QueueFacts {
  /** Queues some live worker process serves. */
  served: ReadonlySet<string>;
  /** Per queue: how long its rate limit holds from `now`, ms (0 or absent: none). */
  rateLimitMs: ReadonlyMap<string, number>;
  now: number;
}

/** The queues whose facts `explainWaiting` needs for these steps (those that could be queued now). */
export function queuesToAsk(steps: readonly StepRecord[]): string[] {
  return [...new Set(steps.filter((s) => s.status === 'pending' || s.status === 'retrying').map((s) => stepQueueName({ agent: s.agent ?? undefined })))];
}

/** For every step that is pending, retrying or waiting: what it waits for. */
export function explainWaiting(steps: readonly StepRecord[], facts: QueueFacts): Map<string, WaitingFor> {
  const byId = new Map(steps.map((s) => [s.stepId, s]));
  const childrenOf = new Map<string, string[]>();
  for (const s of steps) if (s.parent && !isTerminalStep(s.status)) childrenOf.set(s.parent, [...(childrenOf.get(s.parent) ?? []), s.stepId]);
  const out = new Map<string, WaitingFor>();
  const at = (ms: number) => new Date(facts.now + ms).toISOString();
  for (const s of steps) {
    if (awaitsDecision(s)) {
      out.set(s.stepId, { reason: 'approval', deadline: s.retryAt });
      continue;
    }
    if (s.status === 'waiting') {
      out.set(s.stepId, { reason: 'children', steps: childrenOf.get(s.stepId) ?? [] });
      continue;
    }
    if (s.status !== 'pending' && s.status !== 'retrying') continue;
    const open = s.dependsOn.filter((d) => {
      const dep = byId.get(d);
      return dep !== undefined && !isTerminalStep(dep.status);
    });
    if (open.length) {
      out.set(s.stepId, { reason: 'dependencies', steps: open });
      continue;
    }
    if (s.status === 'retrying' && s.retryAt && Date.parse(s.retryAt) > facts.now) {
      out.set(s.stepId, retryWait(s.reason, s.retryAt));
      continue;
    }
    const queue = stepQueueName({ agent: s.agent ?? undefined });
    const limited = facts.rateLimitMs.get(queue) ?? 0;
    if (!facts.served.has(queue)) out.set(s.stepId, { reason: 'no_worker', queue, agent: s.agent });
    else if (limited > 0)
      out.set(
        s.stepId,
        s.status === 'retrying' ? { reason: 'provider_pause', queue, until: at(limited) } : { reason: 'rate_limit', queue, until: at(limited) },
      );
    else out.set(s.stepId, { reason: 'worker_slot', queue });
  }
  return out;
}

/** What a step `retrying` until `until` waits for, by its reason. */
function retryWait(reason: string | null, until: string): WaitingFor {
  if (reason?.startsWith(CAPACITY_WAIT)) return { reason: 'provider_capacity', detail: reason.slice(CAPACITY_WAIT.length), until };
  if (reason?.startsWith(WORKSPACE_CAP_WAIT)) return { reason: 'workspace_cap', detail: reason.slice(WORKSPACE_CAP_WAIT.length), until };
  return { reason: 'retry_backoff', until };
}

/** At most this many running steps of a run are looked at for a lost worker (one lock read each). */
export const MAX_RUNNING_CHECKED = 100;

/** The jobs of the running steps whose lock `explainLost` needs (at most MAX_RUNNING_CHECKED). */
export function runningJobs(steps: readonly StepRecord[]): StepJob[] {
  return steps
    .filter((s) => s.status === 'running')
    .slice(0, MAX_RUNNING_CHECKED)
    .map((s) => ({ runId: s.runId, stepId: s.stepId, queue: stepQueueName({ agent: s.agent ?? undefined }), jobId: stepJobId(s.runId, s.stepId) }));
}

export interface LockFacts {
  /**
   * Per running step looked at: who holds its job's lock (null: nobody), and the step's status
   * read with it (a step no longer running then released its lock: not lost).
   */
  locks: ReadonlyMap<string, { lock: JobLock | null; status: StepStatus | null }>;
  /** Queues some live worker process serves. */
  served: ReadonlySet<string>;
  /** How often the workers' stalled check runs, ms. */
  stalledIntervalMs: number;
  now: number;
}

/**
 * The running steps whose worker is lost: no lock held (it expired), or a lock held by a worker
 * whose process has not beaten for three of its beats. Its stalled check moves a job whose lock
 * is gone, so the step goes on by the time the lock has left plus one interval.
 */
export function explainLost(steps: readonly StepRecord[], facts: LockFacts): Map<string, WaitingFor> {
  const out = new Map<string, WaitingFor>();
  for (const s of steps) {
    const read = facts.locks.get(s.stepId);
    if (s.status !== 'running' || !read || read.status !== 'running') continue;
    const { lock } = read;
    const silent = lock?.process && lock.process.lastBeat < facts.now - lock.process.liveMs;
    if (lock && !silent) continue;
    const queue = stepQueueName({ agent: s.agent ?? undefined });
    const inMs = (lock?.ttlMs ?? 0) + facts.stalledIntervalMs;
    out.set(s.stepId, {
      reason: 'worker_lost',
      queue,
      worker: lock?.process?.id ?? null,
      until: facts.served.has(queue) ? new Date(facts.now + inMs).toISOString() : null,
    });
  }
  return out;
}
