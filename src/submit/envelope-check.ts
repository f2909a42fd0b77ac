/**
 * What the spend envelopes (model/envelope.ts) decide at submission: whether any holds the run
 * (its calls then reserve against them: the job data's `budgeted`), whether a cost envelope can
 * hold it (every model it may call has a price, else 422), and whether one has spent its day
 * already: the run is then refused (429) until the day ends, rather than accepted to halt at
 * its first call.
 */
import type { AgentRegistry } from '../agents/registry.js';
import { EnvelopeSpentError } from '../errors/index.js';
import type { CompiledWorkflow } from '../kinds/definition.js';
import { nextUtcMidnight } from '../model/envelope.js';
import type { EnvelopeToday } from '../store/envelopes.js';
import type { RunStore } from '../store/run-store.js';
import type { Scope } from '../store/scope.js';
import { requirePricesFor } from './budget-pricing.js';

export interface EnvelopeVerdict {
  /** Some envelope holds the run. */
  hold: boolean;
  /** Why it is refused now (an envelope spent today), if it is. */
  spent?: EnvelopeSpentError | undefined;
}

/** USD as an envelope is set ($5.00, $0.005) or spent (to the cent, or more digits below one). */
const usd = (x: number) => (Math.abs(x * 100 - Math.round(x * 100)) < 1e-9 ? `$${x.toFixed(2)}` : `$${Number(x.toPrecision(6))}`);

/** Why `e` has no room left today, or undefined while it has. */
function spentReason(e: EnvelopeToday): string | undefined {
  const { maxTokensPerDay: tokens, maxCostUsdPerDay: cost } = e.limits;
  if (tokens !== undefined && e.spentTokens >= tokens) return `${e.name}'s daily token envelope ${tokens} is spent (${e.spentTokens} tokens today)`;
  if (cost !== undefined && e.spentCostUsd >= cost) return `${e.name}'s daily cost envelope ${usd(cost)} is spent (${usd(e.spentCostUsd)} today)`;
  return undefined;
}

/** The envelopes' verdict on a run of `workflow` submitted now in `scope` (by key `keyId`, if any). */
export async function envelopesOf(
  store: Pick<RunStore, 'envelopes'>,
  scope: Scope,
  keyId: string | undefined,
  workflow: CompiledWorkflow,
  agents: AgentRegistry,
  now = Date.now(),
): Promise<EnvelopeVerdict> {
  const today = await store.envelopes.atSubmit(scope, keyId, now);
  if (today.length === 0) return { hold: false };
  for (const e of today)
    if (e.limits.maxCostUsdPerDay !== undefined)
      requirePricesFor(workflow, agents, `${e.name}'s daily cost envelope`, 'envelope.maxCostUsdPerDay', 'an envelope of maxTokensPerDay');
  const reasons = today.flatMap((e) => spentReason(e) ?? []);
  if (reasons.length === 0) return { hold: true };
  const resets = nextUtcMidnight(now);
  const message = `${reasons.join('; ')}: no run is accepted until it resets at ${new Date(resets).toISOString()}`;
  return { hold: true, spent: new EnvelopeSpentError(message, resets - now) };
}
