import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { StepStatus } from '../types.js';
import { Script } from './script.js';
import { stepPlan, type NewStep } from './step-plan.js';

const script = new Script('steps-add', 5);

export interface StepsAddArgs {
  prefix: string;
  runId: string;
  /** The running step that adds them (each new step's `parent` names it). */
  parent: string;
  /** The parent's attempt: steps are added only while it runs that attempt. */
  attempt: number;
  steps: readonly NewStep[];
  refIds: readonly string[];
  /** Agents of the new steps (added to the run's `agents`). */
  agents: readonly string[];
}

export type StepsAddReply = { applied: true; added: number } | { applied: false; parentStatus: StepStatus | 'missing' };

export async function stepsAdd(redis: Redis, a: StepsAddArgs): Promise<StepsAddReply> {
  const [applied, value] = (await script.run(
    redis,
    [keys.run(a.prefix, a.runId), keys.runSteps(a.prefix, a.runId), keys.runRefs(a.prefix, a.runId), keys.events(a.prefix, a.runId), keys.step(a.prefix, a.runId, a.parent)],
    [keys.stepPrefix(a.prefix, a.runId), a.attempt, new Date().toISOString(), stepPlan(a.steps), JSON.stringify(a.refIds), JSON.stringify(a.agents)],
  )) as [number, number | string];
  return applied === 1 ? { applied: true, added: Number(value) } : { applied: false, parentStatus: value as StepStatus | 'missing' };
}
