import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import { isoNow } from '../../model/time.js';
import type { Scope } from '../scope.js';
import { parseRunBudgetWarning, type RunBudgetWarning } from '../../model/budget.js';
import { isTerminalRun, isTerminalStep, usableDependency, type RunStatus, type StepStatus } from '../../model/run.js';
import { parseJson, Script } from './script.js';

const script = new Script('step-begin', 5);

export interface StepBeginArgs {
  scope: Scope;
  runId: string;
  stepId: string;
  outbox: boolean;
  /** May the script start the step itself when every dependency is usable? */
  fast: boolean;
  /** The step's dependencies. */
  deps: readonly string[];
  /** Other steps it reads (ancestors named by its templates or `when`). */
  extra: readonly string[];
  /** Whether the output of a step read is needed (else only its status). */
  needsOutput: (stepId: string) => boolean;
  /** Most attempts the step may make: the fast path never starts one beyond. */
  maxAttempts: number;
  /** The step counts against its run's `maxSteps` when it first starts (countsTowardMaxSteps). Default false. */
  countsStep?: boolean;
}

/** A step as another step reads it (its dependency or template source). */
export interface StepReading {
  stepId: string;
  status: StepStatus;
  optional: boolean;
  output: unknown;
}

export type StepBeginReply =
  | { mode: 'missing' }
  /** The run's maxSteps refused to start it (`reason` says so); nothing was changed. */
  | { mode: 'over'; reason: string }
  | {
      /** `started`: the script moved the step to running (attempt `attempts`); `read`: it only read. */
      mode: 'read' | 'started';
      stepStatus: StepStatus;
      runStatus: RunStatus;
      attempts: number;
      runInput: unknown;
      startedAt: string | null;
      checkpoint: unknown;
      /** The dependencies first (in the order given), then the other steps read; empty when the step or run has ended. */
      reads: StepReading[];
      /** `started`: counting the start reached 80% of the run's maxSteps (once per run), for its webhooks. */
      budgetWarning?: RunBudgetWarning;
    };

/**
 * More steps read than this are read before the script, in parts of a few hundred
 * (lua/steps-read.lua), instead of inside it: a join of 10,000 steps would hold Redis for tens of
 * milliseconds in one script. Safe for the fast path: it starts a step only when each of its
 * dependencies has ended, and an ended step's status does not change.
 */
export const READS_IN_SCRIPT = 256;
const READ_BATCH = 250;
const readScript = new Script('steps-read', 0);

export async function stepBegin(redis: Redis, a: StepBeginArgs): Promise<StepBeginReply> {
  const all = a.extra.length === 0 ? a.deps : [...a.deps, ...a.extra];
  const early = all.length > READS_IN_SCRIPT ? await readSteps(redis, a, all) : undefined;
  // Read before: the script is told whether the dependencies allow the fast path.
  const fast = a.fast && (early === undefined || early.slice(0, a.deps.length).every(usableDependency));
  const ids = early ? [] : all;
  const r = (await script.run(
    redis,
    [keys.run(a.scope, a.runId), keys.step(a.scope, a.runId, a.stepId), keys.events(a.scope, a.runId), keys.outbox(a.scope), keys.queuedRuns(a.scope)],
    [
      isoNow(),
      a.outbox ? '1' : '0',
      fast ? '1' : '0',
      keys.stepPrefix(a.scope, a.runId),
      ids.length ? a.deps.length : 0,
      ids.map((id) => (a.needsOutput(id) ? '1' : '0')).join('') || '-',
      a.maxAttempts,
      a.countsStep ? '1' : '0',
      ...ids,
    ],
  )) as (string | null)[];
  if (r[0] === 'missing') return { mode: 'missing' };
  if (r[0] === 'over') return { mode: 'over', reason: r[3]! };
  const [mode, stepText, runText, attempts, runInput, startedAt, checkpoint, warned] = r as [StepBeginReply['mode'], ...string[]];
  const stepStatus = parseJson<StepStatus>(stepText);
  const runStatus = parseJson<RunStatus>(runText);
  // As the script does: nothing read once the step or its run has ended.
  const ended = isTerminalStep(stepStatus) || isTerminalRun(runStatus);
  const reads: StepReading[] = early && !ended ? early : [];
  const budgetWarning = parseRunBudgetWarning(warned);
  for (let i = 8; i + 3 < r.length; i += 4) {
    reads.push({ stepId: r[i]!, status: parseJson(r[i + 1]), optional: parseJson(r[i + 2]) === true, output: parseJson(r[i + 3]) });
  }
  return {
    mode: mode as 'read' | 'started',
    stepStatus,
    runStatus,
    attempts: Number(parseJson(attempts) ?? 0),
    runInput: parseJson(runInput),
    startedAt: parseJson(startedAt),
    checkpoint: parseJson(checkpoint),
    reads,
    ...(budgetWarning ? { budgetWarning } : {}),
  };
}

/** The steps `ids` as the script reads them (a missing one reads as cancelled), in parts of READ_BATCH. */
async function readSteps(redis: Redis, a: StepBeginArgs, ids: readonly string[]): Promise<StepReading[]> {
  const out: StepReading[] = [];
  for (let i = 0; i < ids.length; i += READ_BATCH) {
    const batch = ids.slice(i, i + READ_BATCH);
    const r = (await readScript.run(
      redis,
      [],
      [keys.stepPrefix(a.scope, a.runId), batch.map((id) => (a.needsOutput(id) ? '1' : '0')).join(''), ...batch],
    )) as string[];
    batch.forEach((stepId, j) =>
      out.push({ stepId, status: parseJson(r[3 * j]), optional: parseJson(r[3 * j + 1]) === true, output: parseJson(r[3 * j + 2]) }),
    );
  }
  return out;
}
