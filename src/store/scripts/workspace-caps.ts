import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const stepTake = new Script('ws-step-take', 1);
const runAdmit = new Script('ws-run-admit', 1);

/** How long the set of a workspace's running runs lives after its last admission, s. */
const RUNNING_RUNS_TTL_S = 7 * 86_400;

/** Take (or renew) `member`'s lease under the workspace's maxRunningSteps `cap` (ws-step-take.lua). */
export async function wsStepTake(redis: Redis, scope: Scope, cap: number, member: string, leaseMs: number): Promise<{ taken: boolean; running: number }> {
  const [taken, running] = (await stepTake.run(redis, [keys.runningSteps(scope)], [cap, member, Math.max(1, Math.ceil(leaseMs))])) as [number, number];
  return { taken: taken === 1, running };
}

/** Admit run `runId` under the workspace's maxRunningRuns `cap` (ws-run-admit.lua). */
export async function wsRunAdmit(redis: Redis, scope: Scope, cap: number, runId: string): Promise<{ admitted: boolean; running: number }> {
  const [admitted, running] = (await runAdmit.run(redis, [keys.runningRuns(scope)], [cap, runId, keys.runPrefix(scope), RUNNING_RUNS_TTL_S])) as [
    number,
    number,
  ];
  return { admitted: admitted === 1, running };
}
