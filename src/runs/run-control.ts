/**
 * Ending a run early (cancel, required-step failure) from any process: finish it atomically,
 * tell every worker process to abort the run's in-flight steps, and wake its sleeping refs and
 * retrying steps so every branch of its flow drains at once.
 */
import type { Queue } from 'bullmq';
import type { Logger } from '../logger.js';
import { keys, stepJobId, stepQueueName } from './keys.js';
import type { RunStore } from './run-store.js';
import type { RunStatus } from './types.js';

export interface RunControlDeps {
  /** Its connection (`store.redis`) also publishes cancellations. */
  store: RunStore;
  refQueue: Queue;
  /** A queue by name (to wake the run's steps sleeping in a retry backoff). */
  queue: (name: string) => Queue | undefined;
  logger: Logger;
}

export class RunControl {
  constructor(private readonly deps: RunControlDeps) {}

  /**
   * Finish `runId` with `status` unless it already finished. Returns whether this call finished
   * it, and the status in force (`missing` when Redis holds no such run).
   */
  async halt(runId: string, status: Extract<RunStatus, 'failed' | 'cancelled'>, opts: { error?: string; reason: string }): Promise<{ applied: boolean; status: string }> {
    const { store } = this.deps;
    const res = await store.finishRun(runId, status, { error: opts.error ?? null, reason: opts.reason });
    if (!res.applied) return res;
    await store.redis.publish(keys.cancelChannel(store.prefix), runId);
    // Wake whatever sleeps (refs; steps in a retry backoff) so every branch drains now: each
    // sees the run has ended and returns without calling a provider.
    const sleeping = await store.getSteps(runId, res.cancelledSteps.filter((s) => s.was === 'retrying').map((s) => s.stepId));
    await this.promoteRefs(runId);
    for (const s of sleeping) {
      const q = this.deps.queue(stepQueueName({ agent: s.agent ?? undefined }));
      if (!q) continue;
      // In the background: a step that has just recorded `retrying` can take a moment to sleep.
      void wakeWhenDelayed(q, stepJobId(runId, s.stepId), this.deps.logger).catch((err: unknown) =>
        this.deps.logger.debug({ runId, stepId: s.stepId, err }, 'could not wake a sleeping step'),
      );
    }
    return { applied: res.applied, status: res.status };
  }

  /** Wake refs of the run (all of them by default); they then see their target or the run has ended. */
  async promoteRefs(runId: string, refIds?: readonly string[]): Promise<void> {
    const ids = refIds ?? (await this.deps.store.refIds(runId));
    await Promise.all(ids.map((id) => promoteIfDelayed(this.deps.refQueue, id, this.deps.logger)));
  }
}

/**
 * Wake a step job sleeping in a retry backoff. A step that has just recorded `retrying` may
 * still be active for a moment before BullMQ moves it to delayed: look again briefly.
 */
async function wakeWhenDelayed(queue: Queue, jobId: string, logger: Logger, tries = 40): Promise<void> {
  for (let i = 0; i < tries; i++) {
    // One read: the state of a job that does not exist is 'unknown'.
    const state = await queue.getJobState(jobId);
    if (state === 'delayed') return promoteIfDelayed(queue, jobId, logger);
    if (state !== 'active') return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Promote a delayed job; a job that is no longer delayed (already woke, finished, removed) is
 * fine. One command, by id, on the queue's own connection (the job need not be loaded first).
 */
export async function promoteIfDelayed(queue: Queue, jobId: string, logger: Logger): Promise<void> {
  try {
    await queue.getBackend().promote(jobId);
  } catch (err) {
    // "Job is not in the delayed state": it already woke up by itself, finished, or is gone.
    logger.debug({ jobId, err }, 'job not promoted (not delayed)');
  }
}
