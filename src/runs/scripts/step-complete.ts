import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { StepStatus, Usage } from '../types.js';
import { json, Script } from './script.js';

const script = new Script('step-complete', 4);

export interface StepResult {
  output: unknown;
  /** The input the work received (rendered). */
  input: unknown;
  usage: Usage | null;
  model: string | null;
  /** Data of the `step.completed` event (beside usage and model). */
  event?: Record<string, unknown>;
  /** Replace the step's checkpoint in the same write. */
  checkpoint?: unknown;
}

export interface StepCompleteArgs extends StepResult {
  prefix: string;
  runId: string;
  stepId: string;
  outbox: boolean;
}

export interface StepCompleteReply {
  /** True when this was recorded as the step's result; false when the step had already finished (the answer is kept as a late one). */
  recorded: boolean;
  status: StepStatus | 'missing';
}

export async function stepComplete(redis: Redis, a: StepCompleteArgs): Promise<StepCompleteReply> {
  const [recorded, status] = (await script.run(
    redis,
    [keys.step(a.prefix, a.runId, a.stepId), keys.run(a.prefix, a.runId), keys.events(a.prefix, a.runId), keys.outbox(a.prefix)],
    [
      new Date().toISOString(),
      a.outbox ? '1' : '0',
      json(a.output),
      json(a.usage),
      json(a.model),
      json(a.input),
      JSON.stringify({ usage: a.usage, model: a.model, ...a.event }),
      a.checkpoint === undefined ? '' : json(a.checkpoint),
    ],
  )) as [number, StepStatus | 'missing'];
  return { recorded: recorded === 1, status };
}
