/**
 * The processor of the internal `refs` queue. A ref is the extra edge from a step to a
 * dependency owned by another branch of the flow tree. It is added delayed and promoted by its
 * target when the target finishes; if it wakes on its own (a lost promote), it checks its
 * target and goes back to sleep while the target is still live, or records the target lost
 * when the target's job has failed or is gone.
 */
import { DelayedError, type Job, type Queue } from 'bullmq';
import type { RefJobData } from './flow-builder.js';
import { stepJobId } from '../store/keys.js';
import type { RunControl } from './run-control.js';
import type { RunStore } from '../store/run-store.js';
import { scopeOf, type Cell } from '../store/scope.js';
import { isTerminalRun, isTerminalStep } from '../model/run.js';
import { isLost, markLost } from './finish-run.js';

export function createRefProcessor(ctx: { store: RunStore; control: RunControl; cell: Cell; queue: (name: string) => Queue; safetyDelayMs: number }) {
  return async function processRef(job: Job<RefJobData>, token?: string): Promise<{ ref: string; status: string }> {
    const { runId, target, targetQueue } = job.data;
    const scope = scopeOf(ctx.cell, job.data.workspaceId);
    const [runStatus, step] = await Promise.all([ctx.store.records.status(scope, runId), ctx.store.steps.state(scope, runId, target)]);
    if (!runStatus || !step) return { ref: target, status: 'missing' };
    if (isTerminalStep(step.status) || isTerminalRun(runStatus)) return { ref: target, status: step.status };

    const state = await ctx.queue(targetQueue).getJobState(stepJobId(runId, target));
    if (isLost(step.status, state)) {
      await markLost(ctx, scope, runId, { stepId: target, optional: step.optional });
      return { ref: target, status: 'failed' };
    }
    await job.moveToDelayed(Date.now() + ctx.safetyDelayMs, token);
    throw new DelayedError();
  };
}
