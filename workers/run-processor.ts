/**
 * The processor of the `runs` queue: the root job of each run's flow. BullMQ starts it once
 * every sink step has finished; one script settles the run's status, error and output from
 * its steps (see RUN_FINISH in src/runs/lua.ts).
 */
import type { Job } from 'bullmq';
import type { Logger } from '../src/logger.js';
import type { RunJobData } from '../src/runs/flow-builder.js';
import type { RunStore } from '../src/runs/run-store.js';
import { readWithGrace } from './grace.js';

export function createRunProcessor(ctx: { store: RunStore; logger: Logger }) {
  return async function processRun(job: Job<RunJobData>): Promise<{ runId: string; status: string }> {
    const { runId } = job.data;
    // A step still live here lost its job, or (rarely) its result is on its way: look again
    // briefly, then record it lost (see grace.ts).
    const res = await readWithGrace(
      (final) => ctx.store.finishRun(runId, 'auto', { reason: 'run finished', whenLive: final ? 'lost' : 'wait' }),
      (r) => r.status === 'live',
    );
    if (res.applied) ctx.logger.info({ runId, status: res.status }, 'run finished');
    return { runId, status: res.status };
  };
}
