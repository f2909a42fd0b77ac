import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { parseRunBudgetWarning, type RunBudgetWarning } from '../../model/budget.js';
import type { RunEventType, StepRecord, StepStatus, Usage } from '../../model/run.js';
import { json, parseJson, Script } from './script.js';

const script = new Script('step-transition', 6);

export interface StepTransition {
  /** Statuses the step may be in for the change to apply. */
  from: readonly StepStatus[];
  to: StepStatus;
  fields?: Partial<Omit<StepRecord, 'status' | 'runId' | 'stepId' | 'attempts'>> & { checkpoint?: unknown };
  event?: { type: RunEventType; data?: Record<string, unknown> };
  /** Change the attempt counter (+1 when an attempt starts, -1 to give back a rate-limited one); the event data gets the new `attempt`. */
  attemptsDelta?: number;
  /** Apply only while the step is on this attempt (a worker whose attempt was taken over changes nothing). */
  attempt?: number;
  /** Added to the step's usage (also when the change does not apply): what the delivery paid for since it last recorded. */
  usage?: Usage | null;
  /** This write's id, the same on each retry of it: a retry of a write that was applied (its reply lost) gets its reply again and changes nothing. */
  writeId?: string;
  /** A move to `running` that is the step's first start counts it against its run's `maxSteps` (countsTowardMaxSteps). */
  countsStep?: boolean;
}

export interface StepTransitionArgs extends StepTransition {
  scope: Scope;
  runId: string;
  stepId: string;
  outbox: boolean;
}

export interface StepTransitionReply {
  applied: boolean;
  /** The new status when applied, else the current one (`missing` when there is no such step). */
  status: StepStatus | 'missing';
  attempts: number;
  /** Applied from `waiting` to `running`: the step's checkpoint in force (null when none). */
  checkpoint?: unknown;
  /** Not applied: the run's maxSteps refused to start the step (why). */
  over?: string;
  /** Applied: counting the start reached 80% of the run's maxSteps (once per run), for its webhooks. */
  budgetWarning?: RunBudgetWarning;
}

export async function stepTransition(redis: Redis, a: StepTransitionArgs): Promise<StepTransitionReply> {
  const reply = (await script.run(
    redis,
    [
      keys.step(a.scope, a.runId, a.stepId),
      keys.run(a.scope, a.runId),
      keys.events(a.scope, a.runId),
      keys.outbox(a.scope),
      keys.queuedRuns(a.scope),
      keys.runSteps(a.scope, a.runId),
    ],
    [
      a.from.join(','),
      a.to,
      a.event?.type ?? '',
      JSON.stringify(a.event?.data ?? {}),
      new Date().toISOString(),
      a.outbox ? '1' : '0',
      a.attemptsDelta ?? 0,
      a.attempt ?? '',
      keys.stepPrefix(a.scope, a.runId),
      a.usage ? JSON.stringify(a.usage) : '',
      a.writeId ?? '',
      a.countsStep ? '1' : '0',
      ...Object.entries(a.fields ?? {}).flatMap(([k, v]) => [k, json(v)]),
    ],
  )) as [number, StepStatus | 'missing', number, string?, string?, string?];
  const [applied, status, attempts, checkpoint] = reply;
  const over = reply[4];
  const budgetWarning = parseRunBudgetWarning(reply[5]);
  return {
    applied: applied === 1,
    status,
    attempts: Number(attempts),
    ...(checkpoint ? { checkpoint: parseJson(checkpoint) } : {}),
    ...(over ? { over } : {}),
    ...(budgetWarning ? { budgetWarning } : {}),
  };
}
