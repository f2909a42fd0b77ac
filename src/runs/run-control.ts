/**
 * Ending a run early (cancel, required-step failure) from any process: finish it atomically,
 * tell every worker process to abort the run's in-flight steps, and wake its sleeping refs so
 * every branch of its flow drains at once.
 */
import { Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { keys, stepJobId } from './keys.js';
import type { RunStore } from './run-store.js';
import type { RunStatus } from './types.js';

export interface RunControlDeps {
  store: RunStore;
  /** Connection used to publish cancellations. */
  publisher: Redis;
  refQueue: Queue;
  /** The queue of an agent type, to wake the run's steps sleeping in a retry backoff. */
  agentQueue: (agent: string) => Queue | undefined;
  logger: Logger;
}

export class RunControl {
  constructor(private readonly deps: RunControlDeps) {}

  /** Finish `runId` with `status` unless it already finished. Returns whether this call finished it. */
  async halt(runId: string, status: Extract<RunStatus, 'failed' | 'cancelled'>, opts: { error?: string; reason: string }): Promise<{ applied: boolean; status: string; cancelledSteps: string[] }> {
    const { store, publisher } = this.deps;
    const res = await store.finishRun(runId, status, { error: opts.error ?? null, reason: opts.reason });
    if (!res.applied) return res;
    await publisher.publish(keys.cancelChannel(store.prefix), runId);
    // Wake whatever sleeps (refs; steps in a retry backoff) so every branch drains now: each
    // sees the run has ended and returns without calling a provider.
    const steps = await store.getSteps(runId, res.cancelledSteps);
    await Promise.all([
      this.promoteRefs(runId),
      ...steps.map((s) => {
        const q = this.deps.agentQueue(s.agent);
        return q ? promoteIfDelayed(q, stepJobId(runId, s.stepId), this.deps.logger) : undefined;
      }),
    ]);
    return res;
  }

  /** Wake every ref of the run (they then see the run has ended and return at once). */
  async promoteRefs(runId: string, refIds?: readonly string[]): Promise<void> {
    const ids = refIds ?? (await this.refIdsOf(runId));
    await Promise.all(ids.map((id) => promoteIfDelayed(this.deps.refQueue, id, this.deps.logger)));
  }

  private async refIdsOf(runId: string): Promise<string[]> {
    const v = await this.deps.store.redis.hget(keys.run(this.deps.store.prefix, runId), 'refIds');
    return v ? (JSON.parse(v) as string[]) : [];
  }
}

/** Promote a delayed job; a job that is no longer delayed (already woke, finished, removed) is fine. */
export async function promoteIfDelayed(queue: Queue, jobId: string, logger: Logger): Promise<void> {
  const job = await Job.fromId(queue, jobId);
  if (!job) return;
  try {
    await job.promote();
  } catch (err) {
    // "Job is not in the delayed state": it already woke up by itself. Nothing to do.
    logger.debug({ jobId, err }, 'ref not promoted (not delayed)');
  }
}
