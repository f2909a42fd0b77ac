/** The processor of the `schedules` queue: each firing of a job scheduler starts an ordinary run. */
import type { Job } from 'bullmq';
import { EnvelopeSpentError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import { scopeOf, type Cell } from '../store/scope.js';
import type { Submissions } from '../submit/submissions.js';
import type { ScheduleJobData } from './schedules-service.js';

export function createScheduleProcessor(ctx: { submissions: Submissions; cell: Cell; logger: Logger }) {
  return async function fire(job: Job<ScheduleJobData>): Promise<{ runId: string } | { skipped: string }> {
    const { scheduleId, workflow, input, workspaceId, keyId } = job.data;
    try {
      // Keyed by the firing's job id: a retried firing never starts a second run.
      const res = await ctx.submissions.submitWorkflow(scopeOf(ctx.cell, workspaceId), workflow, input, {
        scheduleId,
        idempotencyKey: `schedule.${job.id}`,
        keyId,
      });
      ctx.logger.info({ scheduleId, workflow, runId: res.id }, 'schedule fired');
      return { runId: res.id };
    } catch (err) {
      // A spent envelope refuses every firing until its day ends: this one is skipped, not retried.
      if (!(err instanceof EnvelopeSpentError)) throw err;
      ctx.logger.warn({ scheduleId, workflow, reason: err.message }, 'schedule firing skipped: a spend envelope is spent');
      return { skipped: err.message };
    }
  };
}
