/** The pure choice of an agent for a capability: constraints, then health, priority, cost, limiter wait, name. */
import { describe, expect, it } from 'vitest';
import { chooseAgent, type CandidateFacts } from '../../src/submit/routing.js';
import type { RoutingConstraints } from '../../src/model/routing.js';

const agent = (name: string, extra: Partial<CandidateFacts> = {}): CandidateFacts => ({
  agent: name,
  priority: 0,
  estimatedCostUsd: 0.01,
  estimatedSeconds: 2,
  problems: [],
  waitMs: 0,
  ...extra,
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
      { agent: 'a', priority: 0, healthy: false, problems: ['openai paused'], estimatedCostUsd: 0.01, estimatedSeconds: 2, waitMs: 12, excluded: null },
      {
        agent: 'b',
        priority: 0,
        healthy: true,
        problems: [],
        estimatedCostUsd: 0.01,
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
      'no agent with the capability "search" meets the constraints (a: its estimatedCostUsd 1 is above maxCostUsd 0.5; b: it declares no estimatedCostUsd to hold to maxCostUsd 0.5)',
    );
  });
});
