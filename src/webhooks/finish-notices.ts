/**
 * A run's run.finished notice, at least once. A run whose finish a webhook takes is marked
 * before it exists (keys.finishNotices: its own webhook's write, or, for a subscription's, the
 * create-run script: lua/includes/markFinishNotice.lua); the finisher's listener queues the
 * notice, then unmarks it (the write that finished the run tells it whether any webhook may want
 * it: afterFinish.lua). A process killed
 * between the finish and the queueing leaves the mark: the sweep (the process's sweeper timer)
 * queues the notice of a marked run that has ended, with the same event id (so a notice queued
 * twice is delivered once), looks again later at one still running, and forgets one that no
 * longer exists.
 */
import type { Logger } from '../logger.js';
import { isTerminalRun, type RunStatus } from '../model/run.js';
import type { Cell, Scope, ScopedRun } from '../store/scope.js';
import type { WebhookRecords } from '../store/webhook-records.js';
import type { EventNotice, Webhooks } from './webhooks.js';

/** The run.finished notice of a run: its id follows from the run, so the listener's and the sweep's are one event. */
export const finishNotice = (runId: string, status: RunStatus): EventNotice => ({
  id: `${runId}.run.finished`,
  type: 'run.finished',
  runId,
  data: { status },
});

/** Queue the run's finish notice, then unmark it (unmarked only when some webhook took it: a run with none was never marked, and the sweep forgets a stale mark). */
export async function noticeFinish(
  webhooks: Pick<Webhooks, 'notify'>,
  records: Pick<WebhookRecords, 'finishNoticed'>,
  scope: Scope,
  runId: string,
  status: RunStatus,
): Promise<void> {
  const queued = await webhooks.notify(scope, finishNotice(runId, status));
  if (queued > 0) await records.finishNoticed(scope, runId);
}

export interface FinishNoticeSweepDeps {
  webhooks: Pick<Webhooks, 'notify'>;
  records: Pick<WebhookRecords, 'awaitingBefore' | 'touchAwaiting' | 'finishNoticed'>;
  /** A run's status, null when the run no longer exists. */
  statusOf: (scope: Scope, runId: string) => Promise<RunStatus | null>;
  /** The cell swept. */
  cell: Cell;
  logger: Logger;
  /** A mark is looked at once it is this old (or last looked at this long ago), ms. @default 60000 */
  graceMs?: number;
}

/** One pass over the marks due for a look; returns how many ended runs had their notice queued again. */
export async function sweepFinishNotices(deps: FinishNoticeSweepDeps, batch = 100): Promise<number> {
  const runs = await deps.records.awaitingBefore(deps.cell, Date.now() - (deps.graceMs ?? 60_000), batch);
  const later: ScopedRun[] = [];
  let noticed = 0;
  for (const { scope, runId } of runs) {
    const status = await deps.statusOf(scope, runId);
    if (status !== null && !isTerminalRun(status)) {
      later.push({ scope, runId });
      continue;
    }
    if (status !== null) {
      await deps.webhooks.notify(scope, finishNotice(runId, status));
      noticed++;
      deps.logger.info({ runId, workspace: scope.workspace }, 'queued the run.finished notice of a run whose finisher did not');
    }
    await deps.records.finishNoticed(scope, runId);
  }
  await deps.records.touchAwaiting(deps.cell, later);
  return noticed;
}
