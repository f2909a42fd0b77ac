/**
 * The run budget's part of admission: a call of a run with a token or cost budget has its
 * estimated tokens and cost reserved against the budget first, and when it ends the
 * reservation is released and what it used is counted, so a fan-out of many calls at once
 * cannot pass the budget by its width × maxTokens. A call the run cannot afford (spent + its
 * estimate pass a limit) is refused and the run halts (BudgetExceededError); one for which only
 * the calls in flight leave no room waits for them to settle (no attempt used, no worker slot
 * held). A reservation is a lease of the step's attempt: one whose worker is lost is released
 * when the step is recovered or the run ends, and is not counted once it expires.
 *
 * The same reservation holds the call against the spend envelopes of its run's workspace and of
 * the API key that submitted the run (what each may spend per UTC day, model/envelope.ts), in
 * the same script: a call an envelope cannot afford today is refused the same way.
 *
 * The reservations are run state, kept by the store (budget-reserve.lua, budget-settle.lua):
 * this part reaches them through `BudgetLedger`, which RunStore implements.
 */
import { randomUUID } from 'node:crypto';
import { BudgetExceededError, toError } from '../../errors/index.js';
import type { Logger } from '../../logger.js';
import { nextUtcMidnight, utcDay } from '../../model/envelope.js';
import type { RunBudgetWarning } from '../../model/budget.js';
import type { BudgetReservation, EnvelopeWarning } from '../../store/scripts/index.js';
import { scopeOf, type Cell, type Scope } from '../../store/scope.js';
import type { PriceTable } from '../pricing.js';
import { LEASE_MARGIN_MS, type Admission, type CallAsk, type CallEnd, type Verdict } from './admission.js';
import { jittered } from './jitter.js';

/** How soon a call waiting for the run's calls in flight to settle asks again, ms (jittered). */
const BUDGET_POLL_MS = 500;

/** Where a run's budget reservations are kept (the store). */
export interface BudgetLedger {
  /** Reserve a call's estimate against the run's budget and envelopes: why it is refused (`wait ...`: for the calls in flight), or '' (reserved, or nothing limits it), and the envelopes held (key ids; undefined: the workspace's). */
  reserveBudget(scope: Scope, runId: string, reservation: BudgetReservation): Promise<{ refused: string; held: (string | undefined)[] }>;
  /** Release a reservation (once) and count what the call used; the 80% warnings given (the run budget's, the envelopes'). */
  settleBudget(
    scope: Scope,
    runId: string,
    reservation: BudgetReservation,
    used: { tokens: number; costUsd: number },
  ): Promise<{ runWarning?: RunBudgetWarning | undefined; warnings: EnvelopeWarning[] }>;
}

/** A reservation held for a call (none: neither a token or cost budget nor an envelope holds its run). */
export type BudgetTicket = { scope: Scope; runId: string; stepId: string; reservation: BudgetReservation } | undefined;

export interface BudgetGateOptions {
  ledger: BudgetLedger;
  /** The cell whose runs' budgets these are (a call's holder names its workspace). */
  cell: Cell;
  prices?: PriceTable | undefined;
  /** How long a reservation lives if its call never settles, when the request does not say (its agent's timeout); plus a margin. */
  leaseMs: number;
  logger: Logger;
  /** Told of each envelope's 80% warning (once per envelope and day), for the audit log. */
  onEnvelopeWarning?: ((warning: EnvelopeWarning & { runId: string }) => void) | undefined;
  /** Told of the run budget's own 80% warning (once per run), for its webhooks: awaited before the call's end is given back. */
  onRunWarning?: ((scope: Scope, runId: string, warning: RunBudgetWarning) => Promise<void>) | undefined;
}

export class BudgetGate implements Admission<BudgetTicket> {
  constructor(private readonly opts: BudgetGateOptions) {}

  /** At the model's price, prompt-cache tokens at its cache rates (a reservation's writes, an answer's reads and writes). */
  private cost(usage: { inputTokens: number; outputTokens: number; cacheReadTokens?: number; cacheWriteTokens?: number }, model: string): number {
    return this.opts.prices?.costUsdOf(usage, model) ?? 0;
  }

  async acquire({ req, estimate }: CallAsk): Promise<Verdict<BudgetTicket>> {
    const holder = req.holder;
    if (!holder?.budgeted) return { kind: 'go', ticket: undefined };
    const e = estimate();
    const now = Date.now();
    const reservation: BudgetReservation = {
      tokens: e.inputTokens + e.outputTokens,
      costUsd: this.cost(e, req.model),
      owner: { stepId: holder.stepId, attempt: holder.attempt },
      lease: randomUUID(),
      leaseMs: (req.timeoutMs ?? this.opts.leaseMs) + LEASE_MARGIN_MS,
      envelopes: { day: utcDay(now), resetsAt: new Date(nextUtcMidnight(now)).toISOString(), keyId: holder.keyId },
    };
    const scope = scopeOf(this.opts.cell, holder.workspaceId);
    const { refused, held } = await this.opts.ledger.reserveBudget(scope, holder.runId, reservation);
    // Room is held by calls in flight (the run's, or the envelope's): wait for them to settle (no attempt used).
    if (refused.startsWith('wait ')) return { kind: 'wait', ms: jittered(BUDGET_POLL_MS), why: refused.slice(5), limit: 'budget' };
    if (refused) return { kind: 'refuse', error: new BudgetExceededError(refused) };
    return { kind: 'go', ticket: { scope, runId: holder.runId, stepId: holder.stepId, reservation: { ...reservation, held } } };
  }

  async settle(ticket: BudgetTicket, end: CallEnd): Promise<CallEnd> {
    if (!ticket) return end;
    const used =
      'answer' in end
        ? { tokens: end.answer.usage.inputTokens + end.answer.usage.outputTokens, costUsd: this.cost(end.answer.usage, end.answer.model) }
        : { tokens: 0, costUsd: 0 };
    // The answer is never lost to the budget: a failed settle is logged.
    await this.opts.ledger
      .settleBudget(ticket.scope, ticket.runId, ticket.reservation, used)
      .then(async ({ runWarning, warnings }) => {
        if (runWarning) await this.opts.onRunWarning?.(ticket.scope, ticket.runId, runWarning);
        for (const w of warnings) this.opts.onEnvelopeWarning?.({ ...w, runId: ticket.runId });
      })
      .catch((err: unknown) =>
        this.opts.logger.warn({ runId: ticket.runId, stepId: ticket.stepId, err: toError(err).message }, 'could not settle a budget reservation'),
      );
    return end;
  }
}
