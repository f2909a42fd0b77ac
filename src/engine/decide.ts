/**
 * The step machine's decision, as a pure function: given a step, the state its job found
 * (its own status and attempts, its run's status, its dependencies' states) → what to do.
 * No I/O: the step machine reads the state in one round trip, asks `decide`, then acts.
 *
 * The fast path of scripts/lua/step-begin.lua starts a step by itself in exactly one of the
 * cases where this function answers `start`: its rule is stated once, in src/model/run.ts
 * (FAST_START_FROM, usableDependency), and the script is given it (checked against this
 * function in test/store/scripts.test.ts).
 */
import { NonRetryableError, toError } from '../errors/index.js';
import type { RunStatus, StepStatus } from '../model/run.js';
import { isTerminalRun, isTerminalStep } from '../model/run.js';
import { evaluateWhen } from '../lang/evaluate.js';
import { isLost } from '../flow/finish-run.js';
import type { CompiledStep } from '../kinds/definition.js';
import type { TemplateScope } from '../lang/templates.js';

/** What a decision needs of the step's definition. */
export interface DecisionStep {
  dependsOn: readonly string[];
  when?: string | undefined;
  allowSkippedDeps: boolean;
  /** A join other than `all` (its dependencies are optional). */
  join?: CompiledStep['join'];
}

export interface DecisionInput {
  step: DecisionStep;
  /** Most attempts the step may make (its job's `attempts`). */
  maxAttempts: number;
  self: { status: StepStatus; attempts: number };
  run: { status: RunStatus };
  /** The dependencies' states, in `step.dependsOn` order. */
  deps: readonly { stepId: string; status: StepStatus; optional: boolean }[];
  /** What `when` reads (run input, outputs of the steps read). */
  scope: TemplateScope;
}

export type Decision =
  /** Already finished (the run, or the step itself): return without doing anything. */
  | { action: 'finish'; status: StepStatus }
  /**
   * These dependencies' jobs are done (BullMQ started this one) yet their states are live:
   * their jobs ended without reporting. Record them failed, then decide again.
   */
  | { action: 'lost'; deps: string[] }
  /** A required dependency failed: the run is ending; nothing to record here. */
  | { action: 'cancel'; reason: string }
  | { action: 'skip'; reason: string }
  | { action: 'fail'; error: Error }
  /** Start an attempt. `recovered`: the previous attempt's worker was lost while it ran. */
  | { action: 'start'; recovered: boolean }
  /** Continue after the steps it added have finished (no new attempt). */
  | { action: 'resume' };

/**
 * The start rule, stated once: whether a step's begin may start it by itself (the fast path of
 * step-begin.lua) when the rest of its state allows (pending or retrying with attempts left,
 * its run live, every dependency succeeded or failed optional); the script checks that state,
 * this says which steps it may. A `when` needs evaluating, and a join other than `all` is decided
 * in full: those steps always come to `decide`.
 */
export function fastStart(step: Pick<DecisionStep, 'when' | 'join'>): boolean {
  return step.when === undefined && step.join === undefined;
}

export function decide(d: DecisionInput): Decision {
  const { status, attempts } = d.self;
  if (isTerminalStep(status)) return { action: 'finish', status };
  if (isTerminalRun(d.run.status)) return { action: 'finish', status: 'cancelled' };

  // BullMQ started this job, so it is done with every dependency's job.
  const lost = d.deps.filter((dep) => isLost(dep.status, 'done')).map((dep) => dep.stepId);
  if (lost.length > 0) return { action: 'lost', deps: lost };
  const failed = d.deps.find((dep) => dep.status === 'failed' && !dep.optional);
  if (failed) return { action: 'cancel', reason: `dependency "${failed.stepId}" failed` };

  if (status === 'waiting') return { action: 'resume' };
  // `running` at the start of a delivery: the attempt under way when its worker was lost.
  const recovered = status === 'running';
  if (attempts >= d.maxAttempts) {
    const why = recovered
      ? `the step was interrupted ${attempts} time${attempts === 1 ? '' : 's'} (its worker was lost)`
      : `the step has made ${attempts} attempt${attempts === 1 ? '' : 's'}`;
    return { action: 'fail', error: new NonRetryableError(`${why} and has no attempts left (attempts: ${d.maxAttempts})`) };
  }

  if (d.step.join !== undefined) {
    const refused = joinRefused(d.step.join, d.deps);
    if (refused) return refused;
  }
  const skippedDep = d.step.join === undefined ? d.deps.find((dep) => dep.status === 'skipped' || dep.status === 'cancelled') : undefined;
  if (skippedDep && !d.step.allowSkippedDeps) return { action: 'skip', reason: `dependency "${skippedDep.stepId}" was ${skippedDep.status}` };
  if (d.step.when !== undefined) {
    let go: boolean;
    try {
      go = evaluateWhen(d.step.when, d.scope);
    } catch (err) {
      return { action: 'fail', error: new NonRetryableError(`could not evaluate when: ${toError(err).message}`) };
    }
    if (!go) return { action: 'skip', reason: `when is false: ${d.step.when}` };
  }
  return { action: 'start', recovered };
}

/**
 * A join other than `all`, once its dependencies have all ended: met when enough of them
 * succeeded (`any`, `bestEffort`: one; `quorum: k`: k); otherwise the step fails saying so, or
 * is skipped when every dependency was skipped (nothing failed).
 */
function joinRefused(join: NonNullable<DecisionStep['join']>, deps: DecisionInput['deps']): Decision | undefined {
  const need = typeof join === 'object' ? join.quorum : 1;
  const succeeded = deps.filter((dep) => dep.status === 'succeeded').length;
  if (succeeded >= need) return undefined;
  if (deps.every((dep) => dep.status === 'skipped')) return { action: 'skip', reason: 'every dependency was skipped' };
  const label = typeof join === 'object' ? `{quorum: ${join.quorum}}` : join;
  const others = deps.filter((dep) => dep.status !== 'succeeded').map((dep) => `"${dep.stepId}" ${dep.status}`);
  return {
    action: 'fail',
    error: new NonRetryableError(`join: ${label} needs ${need} of its ${deps.length} dependencies to succeed; ${succeeded} did (${others.join(', ')})`),
  };
}
