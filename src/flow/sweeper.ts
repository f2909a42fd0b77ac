/**
 * The sweeper: a run still `queued` long after it was submitted whose job does not exist (its
 * root job, or a single-step run's only job) lost its flow (its submission was cut short between writing the run and adding its jobs, or
 * Redis applied a write the API had given up on). It is ended `failed`, and the idempotency
 * key it holds is released, so a retry of the same request runs. A queued run that has its
 * flow (it waits for a worker, a rate limit) is looked at again later.
 */
import type { Queue } from 'bullmq';
import type { Logger } from '../logger.js';
import { RUN_QUEUE, stepJobId, stepQueueName } from '../store/keys.js';
import type { RunStore } from '../store/run-store.js';
import { finishRun, type FinishDeps } from './finish-run.js';
import type { Cell, ScopedRun } from '../store/scope.js';

export interface SweeperDeps extends FinishDeps {
  store: Pick<RunStore, 'records' | 'endings'>;
  /** The cell swept: its set of queued runs, of every workspace. */
  cell: Cell;
  /** A queue by name (the queue of the job that carries a run). */
  queue: (name: string) => Queue;
  logger: Logger;
  /** A queued run is looked at once it has been queued (or last looked at) this long, ms. @default 60000 */
  graceMs?: number;
}

/** One pass over the queued runs due for a look; returns how many were ended. */
export async function sweepQueued(deps: SweeperDeps, batch = 100): Promise<number> {
  const { records } = deps.store;
  const runs = await records.queuedBefore(deps.cell, Date.now() - (deps.graceMs ?? 60_000), batch);
  if (runs.length === 0) return 0;
  const states = await Promise.all(
    runs.map(async ({ scope, runId }) => {
      // A run of one step has no root job: that step's job carries it.
      const only = await records.onlyStep(scope, runId);
      return only ? deps.queue(stepQueueName(only)).getJobState(stepJobId(runId, only.stepId)) : deps.queue(RUN_QUEUE).getJobState(runId);
    }),
  );
  const keep: ScopedRun[] = [];
  let ended = 0;
  for (const [i, run] of runs.entries()) {
    if (states[i] !== 'unknown') {
      keep.push(run);
      continue;
    }
    const { scope, runId } = run;
    const res = await finishRun(deps, scope, runId, {
      how: 'halt',
      status: 'failed',
      error: 'could not enqueue the run: its jobs were never added (the submission was cut short)',
      reason: 'enqueue failed',
    });
    if (res.applied) {
      ended++;
      await records.releaseIdempotencyKeyOf(scope, runId);
      deps.logger.warn({ runId, workspace: scope.workspace }, 'ended a queued run whose jobs were never added');
    }
  }
  // Ended runs left the set in run-finish; a missing run (expired) is forgotten.
  await records.touchQueued(
    deps.cell,
    keep,
    runs.filter((_, i) => states[i] === 'unknown'),
  );
  return ended;
}
