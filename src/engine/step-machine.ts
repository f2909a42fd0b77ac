/**
 * The processor of every step queue: one delivery of one step's job, in phases around two pure
 * decisions.
 *
 * 1. Begin (begin.ts): one script reads the step, its run and the steps it reads, and on the
 *    fast path starts it; otherwise `decide` (decide.ts, pure) says what to do before any work.
 * 2. Execute (execute.ts): the kind's executor does one segment of the work under a signal that
 *    fires on the step's timeout and on cancellation of the run.
 * 3. Settle (settle.ts, pure): what the work came to (an outcome, or the error it threw) → an action.
 * 4. Record (record.ts, writes.ts): the action's durable writes, with ids, through `src/store`;
 *    a run it ends is ended by flow/finish-run.ts. A result is written before the job can complete.
 * 5. To BullMQ (to-bullmq.ts): complete, `DelayedError`, `RateLimitError`, `WaitingChildrenError`,
 *    `UnrecoverableError`. A step whose added steps have all finished already goes round again.
 */
import type { Job } from 'bullmq';
import type { StepJobData } from '../flow/flow-builder.js';
import { begin } from './begin.js';
import { Delivery, type StepEnvelope, type StepMachineDeps } from './delivery.js';
import { execute } from './execute.js';
import { complete, record } from './record.js';
import { settle } from './settle.js';
import { toBullMQ } from './to-bullmq.js';
import { resume } from './writes.js';

export type { StepEnvelope, StepMachineDeps } from './delivery.js';
export { contextPublish } from './publish.js';

export function createStepProcessor(deps: StepMachineDeps) {
  // Two parameters: BullMQ makes no AbortController for a processor that takes no signal (it
  // takes three); a delivery's work runs under its own (execute.ts), which ActiveJobs cancels.
  return async function processStep(job: Job<StepJobData>, token?: string): Promise<StepEnvelope> {
    const d = new Delivery(deps, job, token);
    const ended = await begin(d);
    if (ended) return toBullMQ(d, ended);
    if (d.step.readsContext) d.context = await deps.store.records.contextValues(d.scope, d.runId, d.step.readsContext);
    for (;;) {
      const result = await execute(d);
      const action = settle(result, d.attempt, d.settlePolicy(), Date.now());
      const next = await toBullMQ(d, await record(d, action));
      if (next !== 'resume') return next;
      // The steps it added had all finished already: go on in this delivery.
      const resumed = await resume(d);
      if (!resumed.applied) return toBullMQ(d, complete(resumed.status));
      d.resumed = true;
    }
  };
}
