/**
 * A workspace's cap on running runs (`maxRunningRuns`, src/model/workspace-limits.ts), looked at
 * as a step's delivery begins: a step of a run the cap has not admitted yet does not start; it
 * is recorded `retrying` with the cap as its reason (`waitingFor: workspace_cap`) and its job
 * sleeps in the delayed set, holding no worker slot, to ask again a moment later. Its run stays
 * `queued` and starts once one of the workspace's runs has finished (the store finds finished
 * runs by itself: nothing has to tell it, so a run that ends any way frees its place).
 */
import { jittered } from '../calls/admission/jitter.js';
import { WORKSPACE_CAP_WAIT } from '../model/run.js';
import type { Delivery } from './delivery.js';
import type { Ending } from './to-bullmq.js';

/** How soon a step of a run held by its workspace's cap asks again, ms (jittered). */
const RUN_CAP_POLL_MS = 1_000;

/**
 * An Ending when the step's run must wait for its workspace's cap; undefined when it may go on:
 * at once (no promise) when the workspace has no such cap and its caps are read already, so
 * that the step's begin is sent in the same turn (before the worker's next fetch, on a step's path).
 */
export function holdForRunCap(d: Delivery): Promise<Ending | undefined> | undefined {
  const { caps } = d.deps;
  if (!caps) return undefined;
  if (caps.known?.(d.scope)?.maxRunningRuns === null) return undefined;
  return holdForCap(d, caps);
}

async function holdForCap(d: Delivery, caps: NonNullable<Delivery['deps']['caps']>): Promise<Ending | undefined> {
  const { store } = d.deps;
  const cap = (await caps.effective(d.scope)).maxRunningRuns;
  if (cap === null) return undefined;
  const { admitted, running } = await caps.admitRun(d.scope, cap, d.runId);
  if (admitted) return undefined;
  const retryAt = Date.now() + jittered(RUN_CAP_POLL_MS);
  const reason = `${WORKSPACE_CAP_WAIT}maxRunningRuns ${cap} of workspace ${d.scope.workspace} (${running} running)`;
  const at = new Date(retryAt).toISOString();
  // The event once, as the hold begins; later rounds only move the time it asks again.
  const first = await store.steps.transition(d.scope, d.runId, d.step.id, {
    from: ['pending'],
    to: 'retrying',
    fields: { reason, retryAt: at },
    event: { type: 'step.retrying', data: { reason: 'capacity', detail: reason, retryAt: at } },
  });
  if (!first.applied) {
    const again = await store.steps.transition(d.scope, d.runId, d.step.id, { from: ['retrying'], to: 'retrying', fields: { reason, retryAt: at } });
    // Neither pending nor retrying: begin decides (its run ended, it is running elsewhere...).
    if (!again.applied) return undefined;
  }
  d.log().debug({ cap, running }, "step's run waits for its workspace's cap on running runs");
  return { bull: 'delay', untilMs: retryAt };
}
