/**
 * Jobs that failed for good outside the step machine's own ending: a run's root job (the
 * watchdog hears of it), and a single-step run's only job (its worker's `failed` event). Each
 * records the step that failed, if nothing recorded it, and ends the run through finishRun.
 */
import { Job, type Queue } from 'bullmq';
import type { RunJobData, StepJobData } from './flow-builder.js';
import { RUN_QUEUE } from '../store/keys.js';
import type { RunStore } from '../store/run-store.js';
import { scopeOf, type Cell, type Scope } from '../store/scope.js';
import { AUTO_ENDING, failUnrecorded, finishRun, type FinishDeps } from './finish-run.js';

export interface FailedJobDeps extends FinishDeps {
  store: Pick<RunStore, 'endings' | 'steps'>;
  cell: Cell;
  /** A queue by name (the jobs a root job's failure names). */
  queue: (name: string) => Queue;
}

/** BullMQ's reason for a parent failed by a required child: `child <job key> failed`. */
const CHILD_FAILED = /^child (.+) failed$/;

/**
 * End a run whose root job failed. The root's failure names the child that failed it, whose own
 * failure may name its child, and so on: follow the chain to the job that failed by itself, and
 * record its step failed with that job's error if nothing recorded it (a job failed outside the
 * step machine, e.g. stalled past BullMQ's limit), before failing the run.
 */
export async function endFailedRun(deps: FailedJobDeps, runId: string, failedReason: string): Promise<void> {
  const prefix = deps.cell.tag;
  // The root job (kept a retention period once failed) names the run's workspace.
  const root = await Job.fromId<RunJobData>(deps.queue(RUN_QUEUE), runId);
  const scope = scopeOf(deps.cell, root?.data?.workspaceId);
  let reason = failedReason;
  let origin: Job<StepJobData> | undefined;
  for (let depth = 0; depth < 10_000; depth++) {
    const m = CHILD_FAILED.exec(reason);
    if (!m) break;
    const key = m[1]!;
    const rest = key.startsWith(`${prefix}:`) ? key.slice(prefix.length + 1) : undefined;
    const at = rest?.lastIndexOf(':') ?? -1;
    if (!rest || at < 0) break;
    const job = await Job.fromId<StepJobData>(deps.queue(rest.slice(0, at)), rest.slice(at + 1));
    if (!job) break;
    origin = job;
    reason = job.failedReason ?? '';
  }
  if (origin?.data?.step && (await endFailedStep(deps, scope, runId, origin.data.step, reason, false))) return;
  await finishRun(deps, scope, runId, { how: 'halt', status: 'failed', error: failedReason, reason: 'run failed' });
}

/**
 * A step whose job failed for good: record it failed with `reason` if nothing recorded it (the
 * job failed outside the step machine), and end its run (failed, or `auto`, from its steps, for
 * an optional one). Returns false when the step had an ending of its own (a `standalone` step,
 * its run's only job, then settles its run).
 */
export async function endFailedStep(
  deps: FailedJobDeps,
  scope: Scope,
  runId: string,
  step: { id: string; optional: boolean },
  reason: string,
  standalone: boolean,
): Promise<boolean> {
  const res = await failUnrecorded(deps, scope, runId, { stepId: step.id, optional: step.optional }, reason || 'the step job failed');
  // A required step failed its run in failUnrecorded; an optional one, or one that had ended,
  // leaves the run to be ended from its steps (`auto`).
  if ((res.applied && step.optional) || (!res.applied && standalone)) await finishRun(deps, scope, runId, AUTO_ENDING);
  return res.applied;
}
