import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { RunStatus, StepStatus } from '../types.js';
import { json, Script } from './script.js';

const script = new Script('run-finish', 6);

export interface RunFinishArgs {
  prefix: string;
  runId: string;
  /** A final status (cancel, failure), or `auto`: settle from the steps (every step's job is done). */
  status: Exclude<RunStatus, 'queued' | 'running'> | 'auto';
  output?: unknown;
  error?: string | null;
  /** Given to steps that had not finished (they end `cancelled`). */
  reason: string;
  outbox: boolean;
  retentionSeconds: number;
}

export type RunFinishReply =
  | { applied: true; status: RunStatus; cancelledSteps: { stepId: string; was: StepStatus }[] }
  | { applied: false; status: RunStatus | 'missing' };

export async function runFinish(redis: Redis, a: RunFinishArgs): Promise<RunFinishReply> {
  const [applied, status, cancelled] = (await script.run(
    redis,
    [keys.run(a.prefix, a.runId), keys.runSteps(a.prefix, a.runId), keys.runRefs(a.prefix, a.runId), keys.events(a.prefix, a.runId), keys.outbox(a.prefix), keys.queuedRuns(a.prefix)],
    [a.status, json(a.output), json(a.error), new Date().toISOString(), a.outbox ? '1' : '0', a.retentionSeconds, json(a.reason), keys.stepPrefix(a.prefix, a.runId)],
  )) as [number, string, string?];
  if (applied !== 1) return { applied: false, status: status as RunStatus | 'missing' };
  const cancelledSteps = (cancelled ? cancelled.split(',') : []).map((pair) => {
    const at = pair.lastIndexOf('=');
    return { stepId: pair.slice(0, at), was: pair.slice(at + 1) as StepStatus };
  });
  return { applied: true, status: status as RunStatus, cancelledSteps };
}
