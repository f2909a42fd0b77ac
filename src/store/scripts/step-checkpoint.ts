import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import type { StepRecord, Usage } from '../../model/run.js';
import { json, Script } from './script.js';

const script = new Script('step-checkpoint', 3);

export interface StepCheckpointArgs {
  scope: Scope;
  runId: string;
  stepId: string;
  /** The attempt the caller runs: the checkpoint is saved only while the step runs that attempt. */
  attempt: number;
  /** Undefined keeps the one saved. */
  checkpoint?: unknown;
  /** Added to the step's usage (also when the checkpoint is not saved): what the delivery paid for since it last recorded. */
  usage?: Usage | null;
  outbox: boolean;
  /** This write's id, the same on each retry of it (see StepTransition.writeId). */
  writeId?: string;
  /**
   * Fields of the step's record to set with it (what it keeps to debug its calls): also on a
   * step that ended (cancelled) while `attempt` ran it.
   */
  fields?: RecordFields;
}

/** Fields of a step's record a running step's writes set beside their own. */
export type RecordFields = Partial<Pick<StepRecord, 'debug' | 'calls' | 'input' | 'cached'>>;

/** True when saved; false when the step is no longer running that attempt. */
export async function stepCheckpoint(redis: Redis, a: StepCheckpointArgs): Promise<boolean> {
  const args = [
    a.attempt,
    a.checkpoint === undefined ? '' : json(a.checkpoint),
    a.usage ? JSON.stringify(a.usage) : '',
    a.outbox ? '1' : '0',
    a.writeId ?? '',
    ...Object.entries(a.fields ?? {}).flatMap(([k, v]) => [k, json(v)]),
  ];
  return (await script.run(redis, [keys.step(a.scope, a.runId, a.stepId), keys.run(a.scope, a.runId), keys.outbox(a.scope)], args)) === 1;
}
