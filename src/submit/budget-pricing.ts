/**
 * A cost budget holds only for models with a price: a call to a model without one costs $0 to
 * the budget. So a run with `maxCostUsd` that may call such a model is refused at submission,
 * naming the models, and start-up warns once for each agent whose models have none.
 */
import type { AgentRegistry } from '../agents/registry.js';
import type { ResolvedAgent } from '../model/agent.js';
import { ValidationError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import type { PriceTable } from '../calls/pricing.js';
import type { CompiledStep, CompiledWorkflow } from '../kinds/definition.js';
import type { Budget } from '../model/budget.js';

/** The models that may answer for `agent` (its own, then its usable fallbacks) and have no price; echo costs nothing. */
export function unpricedModels(agent: ResolvedAgent, prices: PriceTable): string[] {
  const models = [{ provider: agent.provider, model: agent.model }, ...(agent.fallbacks ?? [])];
  return [...new Set(models.filter((m) => m.provider !== 'echo' && !prices.priceOf(m.model)).map((m) => m.model))];
}

/** The agents one step may run itself or add steps on (a plan without `agents` may use any but its own). */
function agentsOf(step: CompiledStep, registry: AgentRegistry): string[] {
  switch (step.kind) {
    case 'agent':
      return [step.agent, ...(step.delegates ?? [])];
    case 'synthesize':
      return [step.agent];
    case 'plan':
      return [step.agent, ...(step.agents ?? registry.names().filter((a) => a !== step.agent))];
    case 'loop':
      return [step.body.agent, step.critic.agent];
    case 'forEach':
      return [step.step.agent];
    case 'vote':
      return step.voters.map((v) => v.agent);
    case 'approval':
      return step.review ? [step.review.agent] : [];
    case 'concat':
    case 'merge':
    case 'http':
      return [];
  }
}

/** Every agent a run of `workflow` may call: its steps' agents, and the delegates of each, transitively. */
export function agentsReachedBy(workflow: CompiledWorkflow, registry: AgentRegistry): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const d of registry.get(name)?.delegates ?? []) visit(d);
  };
  for (const step of workflow.steps) for (const a of agentsOf(step, registry)) visit(a);
  return [...seen];
}

/** What `unpricedIn` found, per registry (an agents file's, or a workspace's as read) and the agents a workflow's steps name. */
const unpricedFound = new WeakMap<AgentRegistry, Map<string, readonly string[]>>();
/** Distinct step-agent lists kept per registry (inline workflows may name many). */
const UNPRICED_KEPT = 1_000;

/**
 * Each model a run of `workflow` may call that has no price, as `"model" (agent "name")`.
 * It depends only on the registry and the agents the steps name (in order), so it is worked out
 * once for each: not again for every run of a workflow, or every task of an agent.
 */
export function unpricedIn(workflow: CompiledWorkflow, registry: AgentRegistry): readonly string[] {
  const named = workflow.steps.length === 1 ? agentsOf(workflow.steps[0]!, registry) : workflow.steps.flatMap((s) => agentsOf(s, registry));
  const key = named.join(' ');
  let found = unpricedFound.get(registry);
  if (!found) unpricedFound.set(registry, (found = new Map<string, readonly string[]>()));
  let missing = found.get(key);
  if (!missing) {
    missing = agentsReachedBy(workflow, registry).flatMap((name) => {
      const agent = registry.get(name);
      return agent ? unpricedModels(agent, registry.prices).map((model) => `"${model}" (agent "${name}")`) : [];
    });
    if (found.size >= UNPRICED_KEPT) found.clear();
    found.set(key, missing);
  }
  return missing;
}

/**
 * Refuse (ValidationError: 422) a run whose `budget.maxCostUsd` cannot hold: one of the models
 * it may call has no price.
 */
export function requirePrices(workflow: CompiledWorkflow, budget: Budget | null | undefined, registry: AgentRegistry): void {
  if (budget?.maxCostUsd === undefined) return;
  requirePricesFor(workflow, registry, 'budget.maxCostUsd', 'budget.maxCostUsd');
}

/** Refuse (422) a run one of whose models has no price, when `what` (a cost limit) must hold it; `path`: the issue's field. */
export function requirePricesFor(workflow: CompiledWorkflow, registry: AgentRegistry, what: string, path: string, orTokens = 'maxTokens'): void {
  const missing = unpricedIn(workflow, registry);
  if (missing.length === 0) return;
  const message = `${what} cannot be held: no price is known for model ${missing.join(', ')}; add each under \`pricing:\` in the agents file (USD per million tokens, e.g. pricing: { "<model>": { inputPerMTok: 3, outputPerMTok: 15 } }), or use ${orTokens}`;
  throw new ValidationError(message, [{ path, message }]);
}

/** Warn once for each agent whose model or a fallback's has no price (a cost budget would refuse its runs). */
export function warnUnpriced(registry: AgentRegistry, logger: Logger): void {
  for (const agent of registry.list()) {
    const models = unpricedModels(agent, registry.prices);
    if (models.length === 0) continue;
    logger.warn(
      { agent: agent.name, models },
      `agent "${agent.name}": no price for model ${models.map((m) => `"${m}"`).join(', ')}; its usage records no cost and runs with budget.maxCostUsd that may call it are refused: add \`pricing:\` for it in the agents file`,
    );
  }
}
