import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const script = new Script('step-delta', 2);

export interface StepDeltaArgs {
  scope: Scope;
  runId: string;
  stepId: string;
  attempt: number;
  text: string;
}

/** True when the `step.delta` was published (the step is running that attempt); it is never logged. */
export async function stepDelta(redis: Redis, a: StepDeltaArgs): Promise<boolean> {
  const r = await script.run(
    redis,
    [keys.step(a.scope, a.runId, a.stepId), keys.events(a.scope, a.runId)],
    [a.attempt, new Date().toISOString(), JSON.stringify({ attempt: a.attempt, text: a.text })],
  );
  return r === 1;
}
