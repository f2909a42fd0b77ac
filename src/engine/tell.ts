/** What others learn once a delivery ends: the step's refs, the joins it belongs to, and a single-step run's ending. */
import { settleJoins } from '../flow/joins.js';
import { AUTO_ENDING, finishRun } from '../flow/finish-run.js';
import type { StepStatus } from '../model/run.js';
import type { Delivery } from './delivery.js';

/**
 * What others learn once the delivery ends: its refs are promoted, a join it belongs to is
 * looked at, and (`endRun`) a single-step run is ended from its step.
 */
export async function tellEnding(d: Delivery, status: StepStatus | 'missing', endRun: boolean): Promise<void> {
  const { deps, step } = d;
  const { refs } = d.job.data;
  // Most steps have no refs (a single-step run's never): no promise made for none.
  if (refs.length > 0) await deps.control.promoteRefs(refs);
  if (step.joinOf && (status === 'succeeded' || status === 'failed' || status === 'skipped'))
    await settleJoins(deps, d.scope, d.runId, step.joinOf, () => d.log());
  if (endRun && d.standalone) await finishRun(deps, d.scope, d.runId, AUTO_ENDING);
}
