/**
 * The processor of the `runs` queue: the root job of each run's flow. BullMQ starts it once
 * every sink step has finished; it settles the run's status and output.
 */
import type { Job } from 'bullmq';
import type { Logger } from '../src/logger.js';
import type { RunJobData } from '../src/runs/flow-builder.js';
import type { RunStore } from '../src/runs/run-store.js';
import type { RunControl } from '../src/runs/run-control.js';
import { TERMINAL_RUN_STATUSES, TERMINAL_STEP_STATUSES } from '../src/runs/types.js';
import { markLost } from './step-processor.js';

export function createRunProcessor(ctx: { store: RunStore; control: RunControl; logger: Logger }) {
  return async function processRun(job: Job<RunJobData>): Promise<{ runId: string; status: string }> {
    const { runId } = job.data;
    const state = await ctx.store.getRun(runId);
    if (!state) return { runId, status: 'missing' };
    if (TERMINAL_RUN_STATUSES.includes(state.run.status)) return { runId, status: state.run.status };

    // Optional sinks that lost their job are "done" for BullMQ but still live for us.
    for (const s of state.steps.filter((x) => !TERMINAL_STEP_STATUSES.includes(x.status))) {
      await markLost(ctx, runId, s);
      s.status = 'failed';
    }
    const failed = state.steps.filter((s) => s.status === 'failed');
    const status = failed.some((s) => !s.optional) ? 'failed' : failed.length > 0 ? 'partial_success' : 'succeeded';
    const byId = new Map(state.steps.map((s) => [s.stepId, s]));
    const outputs = state.meta.outputSteps.map((id) => [id, byId.get(id)?.output ?? null] as const);
    const output = outputs.length === 1 ? outputs[0]![1] : Object.fromEntries(outputs);
    const error = status === 'failed' ? `step "${failed.find((s) => !s.optional)!.stepId}" failed` : null;
    const res = await ctx.store.finishRun(runId, status, { output, error, reason: 'run finished' });
    ctx.logger.info({ runId, status: res.status, workflow: state.run.workflow }, 'run finished');
    return { runId, status: res.status };
  };
}
