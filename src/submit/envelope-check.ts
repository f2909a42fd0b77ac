/**
 * What the spend envelopes (model/envelope.ts) decide at submission: whether any holds the run
 * (its calls then reserve against them: the job data's `budgeted`), whether a cost envelope can
 * hold it (every model it may call has a price, else 422), and whether one has spent its day
 * already: the run is then refused (429) until the day ends, rather than accepted to halt at
 * its first call. The run's create-run script reads the envelopes and refuses the run before it
 * writes anything (store/scripts/lua/includes/envelopeAtSubmit.lua); this file says what it is
 * asked (`envelopeAdmission`) and words a refusal from what it read (`envelopeRefusal`).
 */
import type { AgentRegistry } from '../agents/registry.js';
import { EnvelopeSpentError } from '../errors/index.js';
import type { CompiledWorkflow } from '../kinds/definition.js';
import { nextUtcMidnight, utcDay } from '../model/envelope.js';
import { envelopeRead, type EnvelopeToday } from '../store/envelopes.js';
import type { EnvelopeRead } from '../store/run-store.js';
import type { Scope } from '../store/scope.js';
import { requirePricesFor, unpricedIn } from './budget-pricing.js';

/** USD as an envelope is set ($5.00, $0.005) or spent (to the cent, or more digits below one). */
const usd = (x: number) => (Math.abs(x * 100 - Math.round(x * 100)) < 1e-9 ? `$${x.toFixed(2)}` : `$${Number(x.toPrecision(6))}`);

/** Why `e` has no room left today, or undefined while it has. */
function spentReason(e: EnvelopeToday): string | undefined {
  const { maxTokensPerDay: tokens, maxCostUsdPerDay: cost } = e.limits;
  if (tokens !== undefined && e.spentTokens >= tokens) return `${e.name}'s daily token envelope ${tokens} is spent (${e.spentTokens} tokens today)`;
  if (cost !== undefined && e.spentCostUsd >= cost) return `${e.name}'s daily cost envelope ${usd(cost)} is spent (${usd(e.spentCostUsd)} today)`;
  return undefined;
}

/** The envelope owners of a run submitted without an API key: its workspace's alone. */
const WORKSPACE_ONLY: readonly (string | undefined)[] = Object.freeze([undefined]);

/** What a run's create-run script asks of the envelopes of `scope` (and of key `keyId`) now. */
export function envelopeAdmission(
  keyId: string | undefined,
  workflow: CompiledWorkflow,
  agents: AgentRegistry,
  now: number,
): { envelopeOwners: readonly (string | undefined)[]; day: string; priced: boolean } {
  return { envelopeOwners: keyId ? [undefined, keyId] : WORKSPACE_ONLY, day: utcDay(now), priced: unpricedIn(workflow, agents).length === 0 };
}

/** The 422 a cost envelope gives a run of `workflow` whose models are not all priced, if it would. */
function unpriced(workflow: CompiledWorkflow, agents: AgentRegistry, name = 'an envelope'): Error | undefined {
  try {
    requirePricesFor(workflow, agents, `${name}'s daily cost envelope`, 'envelope.maxCostUsdPerDay', 'an envelope of maxTokensPerDay');
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

/** Why the envelopes the script read refused a run of `workflow` in `scope`: a 422 (a model without a price) or a 429 (spent today). */
export function envelopeRefusal(scope: Scope, read: readonly EnvelopeRead[], workflow: CompiledWorkflow, agents: AgentRegistry, now: number): Error {
  const today = read.flatMap((r) => envelopeRead({ workspace: scope.workspace, keyId: r.keyId }, r.text, r.spentTokens, r.spentCostUsd) ?? []);
  for (const e of today) {
    const missing = e.limits.maxCostUsdPerDay !== undefined ? unpriced(workflow, agents, e.name) : undefined;
    if (missing) return missing;
  }
  const reasons = today.flatMap((e) => spentReason(e) ?? []);
  const resets = nextUtcMidnight(now);
  const why = reasons.length > 0 ? reasons.join('; ') : 'a spend envelope is spent';
  return new EnvelopeSpentError(`${why}: no run is accepted until it resets at ${new Date(resets).toISOString()}`, resets - now);
}
