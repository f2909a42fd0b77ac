/**
 * How a run ends, and what "lost" means: one owner. Every path that ends a run calls
 * `finishRun`: the root job (run-processor), a single-step run's job (the step machine, and
 * `onFailed` for one that failed outside it), a halt (a cancel, a required step failed, the
 * budget, a run stopped early), the watchdog (failed-jobs.ts), a submission whose jobs could
 * not be added, the sweeper. Only one write
 * finishes a run besides it: a single-step run's result, recorded and the run ended in the
 * same script (`step-complete` with `finishRun`), which applies the same `auto` rule.
 *
 * A step is lost when BullMQ says its job is done (it started the job's parent, the job failed,
 * or the job is gone) while the step's record is still live: its job ended without reporting.
 * `isLost` states that rule; `markLost` records it (the step failed, and a required one fails
 * its run); `run-finish.lua` applies it to the steps still live when a run ends `auto`.
 */
import type { JobState } from 'bullmq';
import type { RunControl } from './run-control.js';
import type { RunStore } from '../store/run-store.js';
import type { Scope } from '../store/scope.js';
import type { StepTransitionReply } from '../store/scripts/index.js';
import { LIVE_STEP_STATUSES, LOST_STEP_ERROR, isTerminalStep, type RunStatus, type StepStatus } from '../model/run.js';

/** A status a run is ended with early. */
export type HaltStatus = Extract<RunStatus, 'failed' | 'cancelled' | 'succeeded' | 'budget_exceeded'>;

export type RunEnding =
  /**
   * Every step's job is done (its root job ran, or a single-step run's job ended): its status,
   * error and output follow from its steps, and a step still live lost its job and is failed.
   */
  | { how: 'auto' }
  /** Ended early: the steps not yet finished end `cancelled` with `reason`, and its flow is drained. */
  | { how: 'halt'; status: HaltStatus; reason: string; error?: string; output?: unknown };

export interface FinishDeps {
  store: Pick<RunStore, 'endings'>;
  control: Pick<RunControl, 'drain'>;
}

/** The way a run whose step jobs are all done ends. */
export const AUTO_ENDING: RunEnding = { how: 'auto' };

/**
 * End the run `runId` of `scope` unless it has ended: the first caller wins. Returns whether
 * this call ended it, and the status in force (`missing` when Redis holds no such run).
 */
export async function finishRun(deps: FinishDeps, scope: Scope, runId: string, ending: RunEnding): Promise<{ applied: boolean; status: string }> {
  if (ending.how === 'auto') {
    const res = await deps.store.endings.finish(scope, runId, 'auto', { reason: 'run finished' });
    return { applied: res.applied, status: res.status };
  }
  const { status, reason, error, output } = ending;
  const res = await deps.store.endings.finish(scope, runId, status, { error: error ?? null, reason, ...(output !== undefined ? { output } : {}) });
  if (res.applied) await deps.control.drain(scope, runId, res);
  return { applied: res.applied, status: res.status };
}

/** The ending of a run whose required step `stepId` failed with `error`. */
export function stepFailedEnding(stepId: string, error: string): RunEnding {
  return { how: 'halt', status: 'failed', error: `step "${stepId}" failed: ${error}`, reason: `step "${stepId}" failed` };
}

/**
 * Whether a step is lost: its record is still live though BullMQ is done with its job
 * (`done`: BullMQ started the job's parent, so the job ended; `failed`; `unknown`: the job is
 * gone). A job in any other state (waiting, delayed, active, waiting for children) may still report.
 */
export function isLost(status: StepStatus, job: 'done' | JobState | 'unknown'): boolean {
  return !isTerminalStep(status) && (job === 'done' || job === 'failed' || job === 'unknown');
}

/**
 * A step that ended without the step machine recording it (its job lost, or failed outside the
 * machine): record it failed with `error` if it is still live; then a required one fails its run.
 */
export async function failUnrecorded(
  deps: FinishDeps & { store: Pick<RunStore, 'steps'> },
  scope: Scope,
  runId: string,
  step: { stepId: string; optional: boolean },
  error: string,
): Promise<StepTransitionReply> {
  const res = await deps.store.steps.transition(scope, runId, step.stepId, {
    from: LIVE_STEP_STATUSES,
    to: 'failed',
    fields: { error, finishedAt: new Date().toISOString() },
    event: { type: 'step.failed', data: { error } },
  });
  if (res.applied && !step.optional) await finishRun(deps, scope, runId, stepFailedEnding(step.stepId, error));
  return res;
}

/**
 * Record a lost step (see isLost) failed. Returns the step's status in force (`failed`, or
 * what it reached meanwhile; `cancelled` when its run is gone).
 */
export async function markLost(
  deps: FinishDeps & { store: Pick<RunStore, 'steps'> },
  scope: Scope,
  runId: string,
  step: { stepId: string; optional: boolean },
): Promise<StepStatus> {
  const res = await failUnrecorded(deps, scope, runId, step, LOST_STEP_ERROR);
  return res.status === 'missing' ? 'cancelled' : res.status;
}
