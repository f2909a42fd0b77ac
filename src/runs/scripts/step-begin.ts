import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { RunStatus, StepStatus } from '../types.js';
import { parseJson, Script } from './script.js';

const script = new Script('step-begin', 5);

export interface StepBeginArgs {
  prefix: string;
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
    };

export async function stepBegin(redis: Redis, a: StepBeginArgs): Promise<StepBeginReply> {
  const ids = [...a.deps, ...a.extra];
  const r = (await script.run(
    redis,
    [keys.run(a.prefix, a.runId), keys.step(a.prefix, a.runId, a.stepId), keys.events(a.prefix, a.runId), keys.outbox(a.prefix), keys.queuedRuns(a.prefix)],
    [new Date().toISOString(), a.outbox ? '1' : '0', a.fast ? '1' : '0', keys.stepPrefix(a.prefix, a.runId), a.deps.length, ids.map((id) => (a.needsOutput(id) ? '1' : '0')).join('') || '-', a.maxAttempts, ...ids],
  )) as (string | null)[];
  if (r[0] === 'missing') return { mode: 'missing' };
  const [mode, stepStatus, runStatus, attempts, runInput, startedAt, checkpoint] = r as [StepBeginReply['mode'], ...string[]];
  const reads: StepReading[] = [];
  for (let i = 7; i + 3 < r.length; i += 4) {
    reads.push({ stepId: r[i]!, status: parseJson(r[i + 1]), optional: parseJson(r[i + 2]) === true, output: parseJson(r[i + 3]) });
  }
  return {
    mode: mode as 'read' | 'started',
    stepStatus: parseJson(stepStatus),
    runStatus: parseJson(runStatus),
    attempts: Number(parseJson(attempts) ?? 0),
    runInput: parseJson(runInput),
    startedAt: parseJson(startedAt),
    checkpoint: parseJson(checkpoint),
    reads,
  };
}
