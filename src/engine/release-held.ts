/**
 * Releasing what a step's provider calls held (budget reservations, turns booked, leases in the
 * shared limiter) from the step machine: for a recovered attempt's lost predecessors, and for a
 * step whose run ended while its call was being admitted (a turn booked after the run's holds
 * were released). Run ends and cancelled steps are released by RunControl.
 */
import { toError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import type { RunStore } from '../runs/run-store.js';
import type { HoldsSelection } from '../runs/scripts/index.js';

/**
 * Release what some of a run's calls held (budget reservations, turns booked, leases) now
 * rather than when it expires: a recovered attempt's lost predecessors', or a step's whose run
 * ended while it was being refused. A failure is logged: the holds expire by themselves.
 */
export async function releaseHeld(store: RunStore, runId: string, which: HoldsSelection, log: () => Logger): Promise<void> {
  try {
    const released = await store.releaseHolds(runId, which);
    if (released) log().info({ released }, 'released what the step’s calls held');
  } catch (err) {
    log().warn({ err: toError(err).message }, 'could not release what the step’s calls held; it expires by itself');
  }
}

