import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import type { StepStatus } from '../../model/run.js';
import { Script } from './script.js';
import { stepPlan, type NewStep } from './step-plan.js';

const script = new Script('steps-add', 5);

export interface StepsAddArgs {
  scope: Scope;
  runId: string;
  /** The running step that adds them (each new step's `parent` names it). */
  parent: string;
  /** The parent's attempt: steps are added only while it runs that attempt. */
  attempt: number;
  steps: readonly NewStep[];
  refIds: readonly string[];
  /** Agents of the new steps (added to the run's `agents`). */
  agents: readonly string[];
  /** Most steps the run may have, those added included (none are added past it). */
  maxSteps?: number;
}

export type StepsAddReply =
  | { applied: true; added: number }
  | { applied: false; parentStatus: StepStatus | 'missing' }
  /** The new steps would take the run past `maxSteps`: `steps` it has, `adding` new ones. */
  | { applied: false; tooMany: { steps: number; adding: number } };

export async function stepsAdd(redis: Redis, a: StepsAddArgs): Promise<StepsAddReply> {
  const [applied, value, steps, adding] = (await script.run(
    redis,
    [
      keys.run(a.scope, a.runId),
      keys.runSteps(a.scope, a.runId),
      keys.runRefs(a.scope, a.runId),
      keys.events(a.scope, a.runId),
      keys.step(a.scope, a.runId, a.parent),
    ],
    [
      keys.stepPrefix(a.scope, a.runId),
      a.attempt,
      new Date().toISOString(),
      stepPlan(a.steps),
      JSON.stringify(a.refIds),
      JSON.stringify(a.agents),
      a.maxSteps ?? '',
    ],
  )) as [number, number | string, number?, number?];
  if (applied === 1) return { applied: true, added: Number(value) };
  if (value === 'too_many') return { applied: false, tooMany: { steps: Number(steps), adding: Number(adding) } };
  return { applied: false, parentStatus: value as StepStatus | 'missing' };
}
