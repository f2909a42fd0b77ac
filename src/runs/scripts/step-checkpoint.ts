import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import { json, Script } from './script.js';

const script = new Script('step-checkpoint', 1);

export interface StepCheckpointArgs {
  prefix: string;
  runId: string;
  stepId: string;
  /** The attempt the caller runs: the checkpoint is saved only while the step runs that attempt. */
  attempt: number;
  checkpoint: unknown;
}

/** True when saved; false when the step is no longer running that attempt. */
export async function stepCheckpoint(redis: Redis, a: StepCheckpointArgs): Promise<boolean> {
  return (await script.run(redis, [keys.step(a.prefix, a.runId, a.stepId)], [a.attempt, json(a.checkpoint)])) === 1;
}
