/**
 * Routing by capability: a run (`POST /v1/runs {capability}`) or a delegation (`delegate` with
 * `capability`) names what it needs instead of an agent, and one of the agents that declare it
 * is chosen. `chooseAgent` is the pure choice (tested without Redis); `RoutingFacts` gathers
 * what it needs to know of each candidate's health from Redis (the shared limiter's breakers
 * and pauses, the worker processes' heartbeats, the queue's rate limit).
 *
 * An agent's cost is its capability's `estimatedCostUsd`, else one call of it priced as a run
 * budget prices a call before it is made (admission's estimateCall: its system prompt counted
 * for its model and maxTokens of output, at the registry's price of its model): `costFrom`
 * says which, and the reason names a priced figure as such.
 *
 * The order: the request's constraints first (an agent whose estimate passes them, or that has
 * no estimate to hold to them, is excluded); then healthy agents before unhealthy ones (circuit
 * closed, model not paused, a live worker process serving its queue); then higher `priority`;
 * then the lower estimated cost; then the shorter wait its limiter would impose now; then the name.
 * An unhealthy agent is chosen only when no eligible one is healthy (its step waits for it).
 */
import type { Redis } from 'ioredis';
import type { AgentRegistry } from '../agents/registry.js';
import { estimateCall } from '../calls/admission/admission.js';
import type { PriceTable } from '../calls/pricing.js';
import type { ResolvedAgent } from '../model/agent.js';
import type { RoutingCandidate, RoutingConstraints, StepRouting } from '../model/routing.js';
import type { Heartbeats } from '../store/heartbeats.js';
import { agentQueueName, keys } from '../store/keys.js';
import { cellOf } from '../store/scope.js';

/** What the choice knows of one agent that declares the capability. */
export interface CandidateFacts {
  agent: string;
  priority: number;
  estimatedCostUsd: number | null;
  /** `declared`: the capability's estimatedCostUsd; `priced`: one call at its model's price (pricedCallUsd); null: no cost known. */
  costFrom: 'declared' | 'priced' | null;
  estimatedSeconds: number | null;
  /** What makes it unhealthy (empty: healthy). */
  problems: string[];
  /** How long its limiter (or its queue's rate limit) would make a call wait now, ms. */
  waitMs: number;
}

/** The choice: the routing a step records, or why no agent could be chosen (each candidate with why it was excluded). */
export type RoutingChoice = { ok: true; routing: StepRouting } | { ok: false; message: string; candidates: RoutingCandidate[] };

/** Priced calls by agent (a resolved agent does not change; its registry's prices may be another's). */
const pricedOnce = new WeakMap<ResolvedAgent, { prices: PriceTable; usd: number | null }>();

/**
 * One call of `agent` priced as a run budget reserves it (estimateCall at its model's price): its
 * system prompt, no message, maxTokens of output; null when its model has no price.
 */
export function pricedCallUsd(agent: ResolvedAgent, prices: PriceTable): number | null {
  const held = pricedOnce.get(agent);
  if (held?.prices === prices) return held.usd;
  const estimate = estimateCall({ model: agent.model, system: agent.systemPrompt || undefined, messages: [], maxTokens: agent.maxTokens });
  const usd = prices.costUsdOf(estimate, agent.model) ?? null;
  pricedOnce.set(agent, { prices, usd });
  return usd;
}

/**
 * Price now (start-up) the agents of `registry` that declare a capability without an estimate:
 * the tokenizer their prompts are counted with loads here, not in the first request routed to them.
 */
export function warmRoutingPrices(registry: AgentRegistry): void {
  for (const a of registry.list()) if (a.capabilities.some((c) => c.estimatedCostUsd === undefined)) pricedCallUsd(a, registry.prices);
}

/** `f`'s cost in words: the figure (with `unit`), and where a priced one comes from. */
const costWords = (f: CandidateFacts, unit = ''): string =>
  f.estimatedCostUsd === null ? 'unknown' : `${f.estimatedCostUsd}${unit}${f.costFrom === 'priced' ? ' (priced from its model)' : ''}`;

/** Why `f` is not eligible under `constraints`, or null. */
function constraintProblem(f: CandidateFacts, c: RoutingConstraints): string | null {
  if (c.maxCostUsd !== undefined) {
    if (f.estimatedCostUsd === null) return `it declares no estimatedCostUsd and its model has no price, to hold to maxCostUsd ${c.maxCostUsd}`;
    if (f.estimatedCostUsd > c.maxCostUsd)
      return f.costFrom === 'priced'
        ? `its cost priced from its model, ${f.estimatedCostUsd} USD, is above maxCostUsd ${c.maxCostUsd}`
        : `its estimatedCostUsd ${f.estimatedCostUsd} is above maxCostUsd ${c.maxCostUsd}`;
  }
  if (c.maxLatencyMs !== undefined) {
    if (f.estimatedSeconds === null) return `it declares no estimatedSeconds to hold to maxLatencyMs ${c.maxLatencyMs}`;
    if (f.estimatedSeconds * 1000 > c.maxLatencyMs) return `its estimatedSeconds ${f.estimatedSeconds} is above maxLatencyMs ${c.maxLatencyMs}`;
  }
  return null;
}

const cost = (f: CandidateFacts) => f.estimatedCostUsd ?? Number.POSITIVE_INFINITY;

/** The order of eligible candidates, best first; and what decided between two neighbours. */
function compare(a: CandidateFacts, b: CandidateFacts): number {
  const healthy = Number(b.problems.length === 0) - Number(a.problems.length === 0);
  if (healthy) return healthy;
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (cost(a) !== cost(b)) return cost(a) - cost(b);
  if (a.waitMs !== b.waitMs) return a.waitMs - b.waitMs;
  return a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0;
}

/** What made `best` go before `next`, in words. */
function decidedBy(best: CandidateFacts, next: CandidateFacts): string {
  if (best.priority !== next.priority) return `priority ${best.priority}, above ${next.agent}'s ${next.priority}`;
  if (cost(best) !== cost(next)) return `estimated cost ${costWords(best, ' USD')}, below ${next.agent}'s ${costWords(next)}`;
  if (best.waitMs !== next.waitMs) return `limiter wait ${best.waitMs} ms, below ${next.agent}'s ${next.waitMs} ms`;
  return `equal to ${next.agent} on health, priority, cost and wait: first by name`;
}

/** Choose the agent for `capability` among `facts` (the agents that declare it), under `constraints`. */
export function chooseAgent(capability: string, facts: readonly CandidateFacts[], constraints: RoutingConstraints = {}): RoutingChoice {
  const excluded = new Map(facts.map((f) => [f.agent, constraintProblem(f, constraints)]));
  const candidates: RoutingCandidate[] = facts.map((f) => ({
    agent: f.agent,
    priority: f.priority,
    healthy: f.problems.length === 0,
    problems: f.problems,
    estimatedCostUsd: f.estimatedCostUsd,
    costFrom: f.costFrom,
    estimatedSeconds: f.estimatedSeconds,
    waitMs: f.waitMs,
    excluded: excluded.get(f.agent) ?? null,
  }));
  if (facts.length === 0) return { ok: false, message: `no agent declares the capability "${capability}"`, candidates };
  const eligible = facts.filter((f) => excluded.get(f.agent) === null).sort(compare);
  const best = eligible[0];
  if (!best) {
    const why = facts.map((f) => `${f.agent}: ${excluded.get(f.agent)!}`).join('; ');
    return { ok: false, message: `no agent with the capability "${capability}" meets the constraints (${why})`, candidates };
  }
  const healthy = eligible.filter((f) => f.problems.length === 0);
  const unhealthy = eligible.filter((f) => f.problems.length > 0);
  const parts: string[] = [];
  if (best.problems.length === 0) {
    // Among the healthy ones: what put it before the next; the unhealthy ones are named apart.
    const next = healthy[1];
    parts.push(next ? decidedBy(best, next) : facts.length === 1 ? 'the only agent that declares it' : 'the only healthy one');
    if (unhealthy.length) parts.push(`passed over as unhealthy: ${unhealthy.map((f) => `${f.agent} (${f.problems.join('; ')})`).join(', ')}`);
  } else {
    const next = eligible[1];
    parts.push(`no eligible agent is healthy; it is not either (${best.problems.join('; ')}), so its step waits`);
    if (next) parts.push(decidedBy(best, next));
  }
  if (eligible.length === 1 && facts.length > 1) parts[0] = best.problems.length ? parts[0]! : 'the only one that meets the constraints';
  const out = facts.filter((f) => excluded.get(f.agent) !== null);
  if (out.length) parts.push(`excluded: ${out.map((f) => `${f.agent} (${excluded.get(f.agent)!})`).join(', ')}`);
  return { ok: true, routing: { capability, candidates, chosen: best.agent, reason: `${best.agent}: ${parts.join('; ')}` } };
}

/** The agents of `agents` that declare `capability`. */
export const agentsWith = <A extends { capabilities: readonly { name: string }[] }>(agents: readonly A[], capability: string): A[] =>
  agents.filter((a) => a.capabilities.some((c) => c.name === capability));

/** Gathers the health facts of the candidates for a capability, from one cell's heartbeats and the global slot's limiter. */
export class RoutingFacts {
  constructor(
    private readonly deps: {
      /** The connection the limiter's keys are read on. */
      redis: Redis;
      /** The global slot's tag (where the limiter's keys are). */
      limiterPrefix: string;
      heartbeats: Pick<Heartbeats, 'liveQueues' | 'rateLimitMs'>;
    },
  ) {}

  /** The facts of each agent of `agents` (of those named in `among`, when given) that declares `capability`, sorted by name. */
  async gather(agents: AgentRegistry, capability: string, among?: readonly string[]): Promise<CandidateFacts[]> {
    const candidates = agentsWith(agents.list(), capability)
      .filter((a) => among === undefined || among.includes(a.name))
      .sort((a, b) => a.name.localeCompare(b.name));
    if (candidates.length === 0) return [];
    const [live, limiter, queueWaits] = await Promise.all([
      this.deps.heartbeats.liveQueues(),
      this.limiterFacts(agents, candidates),
      Promise.all(candidates.map((a) => this.deps.heartbeats.rateLimitMs(agentQueueName(a.name)))),
    ]);
    return candidates.map((a, i) => {
      const cap = a.capabilities.find((c) => c.name === capability)!;
      const own = limiter[i]!;
      const problems = [...own.problems, ...(live.has(agentQueueName(a.name)) ? [] : ['no live worker process serves it'])];
      const priced = cap.estimatedCostUsd === undefined ? pricedCallUsd(a, agents.prices) : null;
      return {
        agent: a.name,
        priority: a.priority,
        estimatedCostUsd: cap.estimatedCostUsd ?? priced,
        costFrom: cap.estimatedCostUsd !== undefined ? 'declared' : priced !== null ? 'priced' : null,
        estimatedSeconds: cap.estimatedSeconds ?? null,
        problems,
        waitMs: Math.max(own.waitMs, queueWaits[i]!),
      };
    });
  }

  /** Per candidate: its breakers and pauses (problems) and the backlog of its limiter's request turns (ms). */
  private async limiterFacts(agents: AgentRegistry, candidates: readonly ResolvedAgent[]): Promise<{ problems: string[]; waitMs: number }[]> {
    const cell = cellOf(this.deps.limiterPrefix);
    const scopesOf = candidates.map((a) =>
      agents.limits.applies(a.provider, a.rateLimit, a.fallbackReason !== undefined)
        ? agents.limits.scopes({ provider: a.provider, model: a.model, apiKey: a.apiKey, agent: { name: a.name, rateLimit: a.rateLimit } }).map((s) => s.id)
        : [],
    );
    const ids = [...new Set(scopesOf.flat())];
    const pipe = this.deps.redis.pipeline();
    for (const id of ids) pipe.hmget(keys.limit(cell, id), 'openUntil', 'pausedUntil', 'pauseProbe', 'tatReq');
    const rows = ids.length ? ((await pipe.exec()) ?? []) : [];
    const now = Date.now();
    const byId = new Map(
      ids.map((id, i) => {
        const [open, paused, probe, tat] = (rows[i]?.[1] as (string | null)[] | undefined) ?? [];
        const problems = [
          ...(Number(open ?? 0) > now ? [`circuit open on ${id}`] : []),
          ...(Number(paused ?? 0) > now ? [`${id} paused`] : probe ? [`${id} paused until a probe call answers`] : []),
        ];
        return [id, { problems, waitMs: Math.max(0, Number(tat ?? 0) - now) }];
      }),
    );
    return scopesOf.map((scopes) => {
      const facts = scopes.map((id) => byId.get(id)!);
      return { problems: facts.flatMap((f) => f.problems), waitMs: Math.max(0, ...facts.map((f) => f.waitMs)) };
    });
  }
}
