/**
 * A provider call of a run with a token or cost budget: its estimated tokens and cost are
 * reserved against the budget first, and when it ends the reservation is released and what
 * it used is counted, so a fan-out of many calls at once cannot pass the budget by its width ×
 * maxTokens. A call the run cannot afford (spent + its estimate pass a limit) is not made and
 * the run halts (BudgetExceededError); one for which only the calls in flight leave no room
 * waits for them to settle (CapacityWaitError: no attempt used, no worker slot held).
 * A reservation is a lease of the step's attempt: one whose worker is lost is released when
 * the step is recovered or the run ends, and is not counted once it expires (`leaseMs`).
 */
import { randomUUID } from 'node:crypto';
import { BudgetExceededError, CapacityWaitError, toError } from '../../errors/index.js';
import { CAPACITY_WAIT } from '../../model/run.js';
import { jittered } from './jitter.js';
import { estimateCall } from './limited-provider.js';
import type { Logger } from '../../logger.js';
import type { PriceTable } from '../pricing.js';
import { ProviderDecorator, type CompletionRequest, type CompletionResult, type Provider } from '../provider.js';
import type { RunBudgets } from '../../store/budgets.js';
import type { Scope } from '../../store/scope.js';
import type { BudgetReservation, HoldOwner } from '../../store/scripts/index.js';

const BUDGET_POLL_MS = 500;

export class BudgetedProvider extends ProviderDecorator {
  constructor(
    inner: Provider,
    private readonly deps: {
      store: Pick<RunBudgets, 'reserveBudget' | 'settleBudget'>;
      scope: Scope;
      runId: string;
      /** The attempt whose calls these are. */
      owner: HoldOwner;
      /** How long a reservation lives if its call never settles (a lost worker): the step's timeout and a margin. */
      leaseMs: number;
      prices?: PriceTable | undefined;
      log: () => Logger;
    },
  ) {
    super(inner);
  }

  private cost(usage: { inputTokens: number; outputTokens: number }, model: string): number {
    return this.deps.prices?.withCost(usage, model)?.costUsd ?? 0;
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const { store, scope, runId, owner, leaseMs } = this.deps;
    const estimate = estimateCall(req);
    const reserved: BudgetReservation = {
      tokens: estimate.inputTokens + estimate.outputTokens,
      costUsd: this.cost(estimate, req.model),
      owner,
      lease: randomUUID(),
      leaseMs,
    };
    const refused = await store.reserveBudget(scope, runId, reserved);
    if (refused.startsWith('wait ')) {
      // Room is held by the run's calls in flight: wait for them to settle (no attempt used).
      throw new CapacityWaitError(`${CAPACITY_WAIT}run budget ${refused.slice(5)}`, jittered(BUDGET_POLL_MS), 'budget');
    }
    if (refused) throw new BudgetExceededError(refused);
    let used = { tokens: 0, costUsd: 0 };
    try {
      const res = await this.inner.complete(req);
      used = { tokens: res.usage.inputTokens + res.usage.outputTokens, costUsd: this.cost(res.usage, res.model) };
      return res;
    } finally {
      // The answer is never lost to the budget: a failed settle is logged.
      await store
        .settleBudget(scope, runId, reserved, used)
        .catch((err: unknown) => this.deps.log().warn({ err: toError(err).message }, 'could not settle a budget reservation'));
    }
  }
}
