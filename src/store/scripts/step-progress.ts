import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const script = new Script('step-progress', 2);

export interface StepProgressArgs {
  scope: Scope;
  runId: string;
  stepId: string;
  attempt: number;
  data: Record<string, unknown>;
}

/** True when the `step.progress` event was appended (the step is running that attempt). */
export async function stepProgress(redis: Redis, a: StepProgressArgs): Promise<boolean> {
  const r = await script.run(
    redis,
    [keys.step(a.scope, a.runId, a.stepId), keys.events(a.scope, a.runId)],
    [a.attempt, new Date().toISOString(), JSON.stringify({ attempt: a.attempt, ...a.data })],
  );
  return r === 1;
}
