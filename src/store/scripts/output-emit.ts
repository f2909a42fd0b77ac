import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import type { RunStatus } from '../../model/run.js';
import type { WorkOutput } from '../../model/work-output.js';
import { Script } from './script.js';

const script = new Script('output-emit', 3);

export interface OutputEmitArgs {
  scope: Scope;
  runId: string;
  /** The output as emitted (`createdAt` now; kept from the first when it replaces one). */
  output: Omit<WorkOutput, 'updatedAt'>;
  /** The attempt the caller runs: kept only while the step runs it. */
  attempt: number;
  maxOutputs: number;
  /** Most bytes of the run's outputs together (their JSON). */
  maxBytes: number;
}

export type OutputEmitReply =
  | { result: 'stored' | 'replaced' | 'unchanged' | 'missing' | 'stale' }
  | { result: 'run_ended'; status: RunStatus }
  | { result: 'full'; outputs: number }
  | { result: 'too_large'; bytes: number };

export async function outputEmit(redis: Redis, a: OutputEmitArgs): Promise<OutputEmitReply> {
  const [result, detail] = (await script.run(
    redis,
    [keys.run(a.scope, a.runId), keys.step(a.scope, a.runId, a.output.stepId), keys.events(a.scope, a.runId)],
    [JSON.stringify({ ...a.output, updatedAt: null }), a.attempt, a.maxOutputs, a.maxBytes, new Date().toISOString()],
  )) as [string, string | number | undefined];
  if (result === 'run_ended') return { result, status: detail as RunStatus };
  if (result === 'full') return { result, outputs: Number(detail) };
  if (result === 'too_large') return { result, bytes: Number(detail) };
  return { result: result as 'stored' | 'replaced' | 'unchanged' | 'missing' | 'stale' };
}
