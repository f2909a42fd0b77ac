/**
 * What a run's provider calls hold against its budget and in the shared limiter: reservations
 * (a call's estimate, as a lease) counted against the run's token and cost budget and its
 * workspace's and key's spend envelopes, and every
 * hold released together (scripts/budget.ts, scripts/holds-release.ts). The admission seam in
 * src/calls reaches these three methods through its own narrow interface.
 */
import { toError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import type { Scope } from './scope.js';
import { budgetReserve, budgetSettle, holdsRelease, type BudgetReservation, type BudgetSettled, type HoldsSelection } from './scripts/index.js';
import type { StoreContext } from './store-context.js';

export class RunBudgets {
  constructor(private readonly ctx: StoreContext) {}

  /** Reserve a call's estimate against the run's budget and its envelopes, as a lease: why it is refused, or '' (reserved, or nothing limits it), and the envelopes held. */
  reserveBudget(scope: Scope, runId: string, reservation: BudgetReservation): Promise<{ refused: string; held: (string | undefined)[] }> {
    return budgetReserve(this.ctx.redis, scope, runId, reservation);
  }

  /** Release a reservation (once) and count what the call used, by the run's budget and the envelopes it held (the 80% warnings of each). */
  settleBudget(scope: Scope, runId: string, reservation: BudgetReservation, used: { tokens: number; costUsd: number }): Promise<BudgetSettled> {
    return budgetSettle(this.ctx.redis, scope, runId, reservation, used);
  }

  /**
   * Release what the run's provider calls hold (turns booked and leases in the shared limiter,
   * budget reservations) now rather than when it expires: all of it when the run has ended (done
   * by every finish), or the given steps' (cancelled, or whose run ended while they were being
   * admitted), or one step's attempts before `belowAttempt` (a recovered attempt took over).
   * Never throws: a failure is logged to `log`, and the holds expire by themselves. Returns how
   * many holds were released.
   */
  async releaseHolds(scope: Scope, runId: string, which: HoldsSelection = {}, log: Logger = this.ctx.logger): Promise<number> {
    try {
      const released = await holdsRelease(this.ctx.redis, scope, runId, which, this.ctx.global);
      if (released) log.debug({ runId, released, ...which }, 'released what the run’s calls held');
      return released;
    } catch (err) {
      log.warn({ runId, err: toError(err).message }, 'could not release what the run’s calls held; it expires by itself');
      return 0;
    }
  }
}
