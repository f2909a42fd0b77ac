/**
 * The processor of the `runs` queue: the root job of every run's flow. BullMQ starts it once
 * every sink step's job is done; it settles the run's status, error and output from its steps
 * (finishRun, see finish-run.ts). Every result was recorded before its job completed, so a
 * step still live here lost its job: it is recorded failed at once.
 */
import type { Job } from 'bullmq';
import type { Logger } from '../logger.js';
import type { RunJobData } from './flow-builder.js';
import { scopeOf, type Cell } from '../store/scope.js';
import { AUTO_ENDING, finishRun, type FinishDeps } from './finish-run.js';

export function createRunProcessor(ctx: FinishDeps & { cell: Cell; logger: Logger }) {
  return async function processRun(job: Job<RunJobData>): Promise<{ runId: string; status: string }> {
    const { runId, workspaceId } = job.data;
    const res = await finishRun(ctx, scopeOf(ctx.cell, workspaceId), runId, AUTO_ENDING);
    if (res.applied) ctx.logger.info({ runId, status: res.status }, 'run finished');
    return { runId, status: res.status };
  };
}
