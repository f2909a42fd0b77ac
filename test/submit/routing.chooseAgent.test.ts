/**
 * The pure choice of an agent for a capability: constraints, then health, priority, cost, limiter
 * wait, name; and the price of one call of an agent without a declared estimate, as a run budget
 * reserves that call.
 */
import { describe, expect, it } from 'vitest';
import { BudgetGate, type BudgetLedger } from '../../src/calls/admission/budget-gate.js';
import { estimateCall } from '../../src/calls/admission/admission.js';
import { PriceTable } from '../../src/calls/pricing.js';
import { silentLogger } from '../../src/logger.js';
import { AgentSpec, type ResolvedAgent } from '../../src/model/agent.js';
import type { RoutingConstraints } from '../../src/model/routing.js';
import type { BudgetReservation } from '../../src/store/scripts/index.js';
import { chooseAgent, pricedCallUsd, type CandidateFacts } from '../../src/submit/routing.js';

/** A candidate with a declared estimate of 0.01 USD unless told otherwise (a null estimate is no cost at all). */
const agent = (name: string, extra: Partial<CandidateFacts> = {}): CandidateFacts => ({
  agent: name,
  priority: 0,
  estimatedCostUsd: 0.01,
  estimatedSeconds: 2,
  problems: [],
  waitMs: 0,
  ...extra,
  costFrom: extra.costFrom ?? (extra.estimatedCostUsd === null ? null : 'declared'),
});

const cases: { name: string; facts: CandidateFacts[]; constraints?: RoutingConstraints; chosen: string; reason: RegExp }[] = [
  { name: 'the only agent', facts: [agent('a')], chosen: 'a', reason: /^a: the only agent that declares it$/ },
  {
    name: 'a healthy agent before a higher-priority one whose circuit is open',
    facts: [agent('fast', { priority: 9, problems: ['circuit open on openai/gpt-4o'] }), agent('slow')],
    chosen: 'slow',
    reason: /^slow: the only healthy one; passed over as unhealthy: fast \(circuit open on openai\/gpt-4o\)$/,
  },
  {
    name: 'a healthy agent before one no worker serves',
    facts: [agent('a', { problems: ['no live worker process serves it'] }), agent('b', { priority: -5 })],
    chosen: 'b',
    reason: /^b: the only healthy one; passed over as unhealthy: a \(no live worker process serves it\)$/,
  },
  {
    name: 'higher priority among healthy ones',
    facts: [agent('low', { priority: 1 }), agent('high', { priority: 7 })],
    chosen: 'high',
    reason: /priority 7, above low's 1/,
  },
  {
    name: 'the cheaper estimate at equal priority',
    facts: [agent('dear', { estimatedCostUsd: 0.2 }), agent('cheap', { estimatedCostUsd: 0.02 })],
    chosen: 'cheap',
    reason: /estimated cost 0.02 USD, below dear's 0.2/,
  },
  {
    name: 'an agent with a cost estimate before one without',
    facts: [agent('unknown', { estimatedCostUsd: null }), agent('known', { estimatedCostUsd: 5 })],
    chosen: 'known',
    reason: /below unknown's unknown/,
  },
  {
    name: 'an agent priced from its model below one that declares a dearer estimate, saying it was priced',
    facts: [agent('declared', { estimatedCostUsd: 0.02 }), agent('priced', { estimatedCostUsd: 0.00061, costFrom: 'priced' })],
    chosen: 'priced',
    reason: /^priced: estimated cost 0.00061 USD \(priced from its model\), below declared's 0.02$/,
  },
  {
    name: 'a declared estimate below an agent priced from its model, naming the priced figure',
    facts: [agent('priced', { estimatedCostUsd: 0.3, costFrom: 'priced' }), agent('declared', { estimatedCostUsd: 0.02 })],
    chosen: 'declared',
    reason: /^declared: estimated cost 0.02 USD, below priced's 0.3 \(priced from its model\)$/,
  },
  {
    name: 'within maxCostUsd by the priced figure, naming the agent it excluded and the one with no price',
    facts: [
      agent('dear', { estimatedCostUsd: 0.004, costFrom: 'priced', priority: 9 }),
      agent('unpriced', { estimatedCostUsd: null, priority: 9 }),
      agent('cheap', { estimatedCostUsd: 0.0006, costFrom: 'priced' }),
    ],
    constraints: { maxCostUsd: 0.001 },
    chosen: 'cheap',
    reason:
      /^cheap: the only one that meets the constraints; excluded: dear \(its cost priced from its model, 0.004 USD, is above maxCostUsd 0.001\), unpriced \(it declares no estimatedCostUsd and its model has no price, to hold to maxCostUsd 0.001\)$/,
  },
  {
    name: 'the shorter limiter wait at equal priority and cost',
    facts: [agent('busy', { waitMs: 4000 }), agent('idle', { waitMs: 0 })],
    chosen: 'idle',
    reason: /limiter wait 0 ms, below busy's 4000 ms/,
  },
  { name: 'the first by name when all else is equal', facts: [agent('b'), agent('a')], chosen: 'a', reason: /first by name/ },
  {
    name: 'an unhealthy agent when no eligible one is healthy, saying its step waits',
    facts: [agent('a', { problems: ['openai paused'] }), agent('b', { problems: ['circuit open on x'], priority: 3 })],
    chosen: 'b',
    reason: /no eligible agent is healthy; it is not either \(circuit open on x\), so its step waits; priority 3, above a's 0$/,
  },
  {
    name: 'within maxCostUsd, naming the one excluded',
    facts: [agent('dear', { estimatedCostUsd: 0.5, priority: 9 }), agent('cheap', { estimatedCostUsd: 0.05 })],
    constraints: { maxCostUsd: 0.1 },
    chosen: 'cheap',
    reason: /the only one that meets the constraints; excluded: dear \(its estimatedCostUsd 0.5 is above maxCostUsd 0.1\)/,
  },
  {
    name: 'within maxLatencyMs',
    facts: [agent('slow', { estimatedSeconds: 30, priority: 9 }), agent('quick', { estimatedSeconds: 1 })],
    constraints: { maxLatencyMs: 5000 },
    chosen: 'quick',
    reason: /excluded: slow \(its estimatedSeconds 30 is above maxLatencyMs 5000\)/,
  },
];

describe('chooseAgent', () => {
  for (const c of cases) {
    it(`chooses ${c.name}`, () => {
      const choice = chooseAgent('search', c.facts, c.constraints);
      if (!choice.ok) throw new Error(choice.message);
      expect(choice.routing.chosen).toBe(c.chosen);
      expect(choice.routing.capability).toBe('search');
      expect(choice.routing.reason).toMatch(c.reason);
      expect(choice.routing.candidates.map((x) => x.agent)).toEqual(c.facts.map((f) => f.agent));
    });
  }

  it('records each candidate with its health, estimates, wait and why it was excluded', () => {
    const choice = chooseAgent('search', [agent('a', { problems: ['openai paused'], waitMs: 12 }), agent('b', { estimatedSeconds: null })], {
      maxLatencyMs: 9000,
    });
    expect(choice.ok && choice.routing.candidates).toEqual([
      {
        agent: 'a',
        priority: 0,
        healthy: false,
        problems: ['openai paused'],
        estimatedCostUsd: 0.01,
        costFrom: 'declared',
        estimatedSeconds: 2,
        waitMs: 12,
        excluded: null,
      },
      {
        agent: 'b',
        priority: 0,
        healthy: true,
        problems: [],
        estimatedCostUsd: 0.01,
        costFrom: 'declared',
        estimatedSeconds: null,
        waitMs: 0,
        excluded: 'it declares no estimatedSeconds to hold to maxLatencyMs 9000',
      },
    ]);
  });

  it('refuses a capability no agent declares', () => {
    expect(chooseAgent('translate', [])).toEqual({ ok: false, message: 'no agent declares the capability "translate"', candidates: [] });
  });

  it('refuses when the constraints exclude every candidate, naming why for each', () => {
    const choice = chooseAgent('search', [agent('a', { estimatedCostUsd: 1 }), agent('b', { estimatedCostUsd: null })], { maxCostUsd: 0.5 });
    expect(choice.ok).toBe(false);
    expect(!choice.ok && choice.message).toBe(
      'no agent with the capability "search" meets the constraints (a: its estimatedCostUsd 1 is above maxCostUsd 0.5; b: it declares no estimatedCostUsd and its model has no price, to hold to maxCostUsd 0.5)',
    );
  });
});

describe('pricedCallUsd', () => {
  const resolved = (spec: Record<string, unknown>): ResolvedAgent => {
    const parsed = AgentSpec.parse(spec);
    return { ...parsed, name: 'x', model: parsed.model ?? 'echo', configuredProvider: parsed.provider };
  };
  const prices = new PriceTable({ 'gpt-house': { inputPerMTok: 2, outputPerMTok: 8 } });

  it('prices one call of the agent (its system prompt, maxTokens of output) as a run budget reserves it', async () => {
    const mini = resolved({ provider: 'openai', model: 'gpt-4o-mini', systemPrompt: 'Classify the text as spam or not.', maxTokens: 1000 });
    const reserved: BudgetReservation[] = [];
    const ledger: BudgetLedger = {
      reserveBudget: (_scope, _runId, r) => (reserved.push(r), Promise.resolve({ refused: '', held: [] })),
      settleBudget: () => Promise.resolve({ warnings: [] }),
    };
    const gate = new BudgetGate({ ledger, prices, leaseMs: 1000, logger: silentLogger, cell: { tag: '{t}' } });
    const req = { agent: 'x', model: mini.model, system: mini.systemPrompt, messages: [], maxTokens: mini.maxTokens, signal: new AbortController().signal };
    const holder = { runId: 'r1', workspaceId: 'default', tag: '{t}', stepId: 's1', attempt: 1, budgeted: true };
    await gate.acquire({ req: { ...req, holder }, estimate: () => estimateCall(req) });
    const usd = pricedCallUsd(mini, prices);
    expect(usd).toBe(reserved[0]!.costUsd);
    // gpt-4o-mini: $0.15 in, $0.60 out per million: 1000 output tokens are $0.0006, the prompt a few tokens more.
    expect(usd).toBeGreaterThan(0.0006);
    expect(usd).toBeLessThan(0.0006 + (100 * 0.15) / 1e6);
  });

  it('uses the agents file’s pricing, is null for a model without a price, and 0 on echo', () => {
    expect(pricedCallUsd(resolved({ provider: 'openai', model: 'gpt-house', maxTokens: 500 }), prices)).toBeGreaterThan((500 * 8) / 1e6);
    expect(pricedCallUsd(resolved({ provider: 'openai', model: 'gpt-unpriced' }), prices)).toBeNull();
    expect(pricedCallUsd(resolved({ provider: 'echo' }), prices)).toBe(0);
  });
});
