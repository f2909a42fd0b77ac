/**
 * Draining a run that ended early (flow/finish-run.ts ends it) from any process: tell every
 * worker process to abort the run's in-flight steps, take its queued step jobs out of their
 * queues, and wake its sleeping refs so every branch of its flow drains at once. Also: cancelling
 * some steps of a live run (a join met early), waking a sleeping step, promoting refs.
 */
import type { Queue } from 'bullmq';
import type { Logger } from '../logger.js';
import { cancelMessage, keys, stepJobId, stepQueueName } from '../store/keys.js';
import type { RunStore } from '../store/run-store.js';
import type { Scope } from '../store/scope.js';
import type { RunFinishReply } from '../store/scripts/index.js';
import { LIVE_STEP_STATUSES } from '../model/run.js';

export interface RunControlDeps {
  /** Its connection (`store.redis`) also publishes cancellations. */
  store: Pick<RunStore, 'redis' | 'steps' | 'budgets'>;
  refQueue: Queue;
  /** A queue by name (to wake the run's steps sleeping in a retry backoff). */
  queue: (name: string) => Queue | undefined;
  logger: Logger;
}

export class RunControl {
  constructor(private readonly deps: RunControlDeps) {}

  /**
   * A run has just been ended early (by finishRun, flow/finish-run.ts, the one place runs end):
   * drain its flow at once. What follows only speeds up that draining, so a failure here is
   * logged, never reported as a failed ending. Every process aborts the run's calls; its queued
   * step jobs leave their queues (they would otherwise drain through their agents' rate limits,
   * delaying other runs); its refs wake so every branch drains at once (each sees the run has
   * ended and returns without calling a provider). A parent whose last pending child is removed
   * moves on by itself. (What its calls held in the limiter and against its budget was released
   * by the finish.)
   */
  async drain(scope: Scope, runId: string, ended: Extract<RunFinishReply, { applied: true }>): Promise<void> {
    const { store } = this.deps;
    try {
      await store.redis.publish(keys.cancelChannel(scope), cancelMessage(scope, runId));
      // `waiting`: an approval gate sleeps in the delayed set (a step waiting for its children is left alone below).
      const queued = ended.cancelledSteps.filter((s) => s.was === 'pending' || s.was === 'retrying' || s.was === 'waiting');
      await Promise.all([
        this.promoteRefs(ended.refIds),
        ...queued.map((s) => this.removeQueued(runId, s.stepId, stepQueueName({ agent: s.agent ?? undefined }))),
      ]);
    } catch (err) {
      this.deps.logger.warn({ runId, err: (err as Error).message }, 'run ended, but its flow could not be drained at once; it drains by itself');
    }
  }

  /**
   * Cancel some steps of a live run (a join met early no longer needs them): each one still
   * live becomes `cancelled` with `reason`; the ones running are aborted in whichever process
   * runs them, the ones queued leave their queues (a parent whose last pending child is
   * removed moves on by itself). Returns the ids cancelled here.
   */
  async cancelSteps(scope: Scope, runId: string, steps: readonly { stepId: string; agent: string | null }[], reason: string): Promise<string[]> {
    const { store } = this.deps;
    const finishedAt = new Date().toISOString();
    const results = await Promise.all(
      steps.map(async (s) => ({
        step: s,
        res: await store.steps.transition(scope, runId, s.stepId, {
          from: LIVE_STEP_STATUSES,
          to: 'cancelled',
          fields: { reason, finishedAt },
          event: { type: 'step.cancelled', data: { reason } },
        }),
      })),
    );
    const cancelled = results.filter((r) => r.res.applied).map((r) => r.step);
    if (cancelled.length === 0) return [];
    await store.budgets.releaseHolds(scope, runId, { steps: cancelled.map((s) => s.stepId) });
    try {
      await Promise.all([
        // Any of them may have started since it was read: every process aborts those it runs.
        store.redis.publish(
          keys.cancelChannel(scope),
          cancelMessage(
            scope,
            runId,
            cancelled.map((s) => s.stepId),
          ),
        ),
        // Whatever state each was read in, its job's own state decides (removeQueued looks).
        ...cancelled.map((s) => this.removeQueued(runId, s.stepId, stepQueueName({ agent: s.agent ?? undefined }))),
      ]);
    } catch (err) {
      this.deps.logger.warn({ runId, err: (err as Error).message }, 'steps cancelled, but their jobs could not be stopped at once; they end by themselves');
    }
    return cancelled.map((s) => s.stepId);
  }

  /**
   * Remove a step's job if it waits in its queue (waiting, delayed, prioritized); leave it if
   * it runs or waits for children. A step that has just recorded `retrying` may still be
   * active for a moment before BullMQ moves it to delayed: that one is looked at again briefly,
   * in the background.
   */
  private async removeQueued(runId: string, stepId: string, queueName: string): Promise<void> {
    const queue = this.deps.queue(queueName);
    if (!queue) return;
    const jobId = stepJobId(runId, stepId);
    const state = await queue.getJobState(jobId);
    if (QUEUED.has(state)) return removeJob(queue, jobId, this.deps.logger);
    if (state !== 'active') return;
    void (async () => {
      for (let i = 0; i < 40; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const now = await queue.getJobState(jobId);
        if (QUEUED.has(now)) return removeJob(queue, jobId, this.deps.logger);
        if (now !== 'active') return;
      }
    })().catch((err: unknown) => this.deps.logger.debug({ runId, stepId, err }, 'could not remove a queued step job'));
  }

  /**
   * Wake a step's job that sleeps in the delayed set (an approval gate just decided). A job
   * still active (it recorded `waiting` and is about to move to delayed) is waited for briefly
   * (up to about 2 s), so a decision taken in that moment still wakes it at once.
   */
  async wake(queueName: string, jobId: string): Promise<void> {
    const queue = this.deps.queue(queueName);
    if (!queue) return;
    for (let i = 0; i < 40; i++) {
      const state = await queue.getJobState(jobId);
      if (state === 'delayed') return promoteIfDelayed(queue, jobId, this.deps.logger);
      if (state !== 'active') return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Wake refs (sleeping ref jobs); they then see their target or that the run has ended. */
  async promoteRefs(refIds: readonly string[]): Promise<void> {
    await Promise.all(refIds.map((id) => promoteIfDelayed(this.deps.refQueue, id, this.deps.logger)));
  }
}

/** The states of a job that waits in its queue to be taken. */
const QUEUED = new Set(['waiting', 'delayed', 'prioritized']);

/** Remove a job; one that is being processed or already gone is left as it is. */
async function removeJob(queue: Queue, jobId: string, logger: Logger): Promise<void> {
  try {
    await queue.remove(jobId, { removeChildren: false });
  } catch (err) {
    logger.debug({ jobId, err }, 'job not removed');
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
