/**
 * Routing by capability, end to end on the real Redis, real worker pools and the real SDKs
 * against the fake LLM server: a run that names a capability gets the agent of highest priority
 * among the healthy ones that declare it (a circuit opened by real failures, an agent no worker
 * serves, the request's constraints take agents out), the step records the choice and why, and
 * an orchestrator's `delegate` call that names a capability is routed the same way. An agent
 * that declares no estimatedCostUsd is priced from its model (one call of its prompt and
 * maxTokens) and ranked and held to maxCostUsd by that figure, which its record and reason name.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { estimateInputTokens } from '../../src/calls/token-estimate.js';
import { endsWithToolResults, startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

let fake: FakeLlmServer;
let h: Harness;

const summarize = (estimatedCostUsd: number) => [
  { name: 'summarize', description: 'Summarise a text', inputTypes: ['text'], outputTypes: ['summary'], estimatedSeconds: 2, estimatedCostUsd },
];

const AGENTS = {
  premium: { provider: 'openai', model: 'gpt-premium', attempts: 1, priority: 10, capabilities: summarize(0.05) },
  standard: { provider: 'openai', model: 'gpt-standard', attempts: 1, priority: 5, capabilities: summarize(0.01) },
  thrifty: { provider: 'anthropic', model: 'claude-thrifty', attempts: 1, priority: 1, capabilities: summarize(0.001) },
  // No worker process serves `unserved` (it is left out of the pools), though its priority is the highest.
  unserved: { provider: 'echo', priority: 50, capabilities: [{ name: 'translate' }] },
  served: { provider: 'echo', capabilities: [{ name: 'translate' }] },
  // `classify`: one agent priced from its model (gpt-4o-mini: $0.15/$0.60 per million), one declared, one with neither.
  mini: { provider: 'openai', model: 'gpt-4o-mini', systemPrompt: 'Classify the text.', maxTokens: 1000, attempts: 1, capabilities: [{ name: 'classify' }] },
  declared: { provider: 'openai', model: 'gpt-classifier', attempts: 1, capabilities: [{ name: 'classify', estimatedCostUsd: 0.01 }] },
  unpriced: { provider: 'openai', model: 'gpt-unpriced', attempts: 1, capabilities: [{ name: 'classify' }] },
  boss: { provider: 'openai', model: 'gpt-boss', attempts: 1, delegates: ['premium', 'standard', 'thrifty'], orchestration: { readRuns: false } },
};

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'routing',
    fake,
    agents: AGENTS,
    // One failure opens a model's circuit for a minute.
    providers: { openai: { breaker: { failures: 1, windowMs: 60_000, cooldownMs: 60_000 } } },
    pools: Object.keys(AGENTS).filter((a) => a !== 'unserved'),
  });
}, 30_000);

afterEach(() => fake.reset());

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

const byCapability = (capability: string, task: string, extra: Record<string, unknown> = {}) =>
  h.request('POST', '/v1/runs', { capability, input: { task }, ...extra });

describe('a run that names a capability', () => {
  it('runs on the agent of highest priority among the healthy ones, and its step records the choice and why', async () => {
    const res = await byCapability('summarize', 'the quarterly report');
    expect(res.status).toBe(202);
    const run = await h.waitForRun(res.body.id);
    expect(run).toMatchObject({ status: 'succeeded', workflow: 'agent/premium', output: 'fake gpt-premium: the quarterly report' });
    const { routing } = (await h.request('GET', `/v1/runs/${res.body.id}`)).body.steps[0];
    expect(routing).toMatchObject({ capability: 'summarize', chosen: 'premium', reason: "premium: priority 10, above standard's 5" });
    expect(routing.candidates.map((c: { agent: string }) => c.agent)).toEqual(['premium', 'standard', 'thrifty']);
    expect(routing.candidates[0]).toEqual({
      agent: 'premium',
      priority: 10,
      healthy: true,
      problems: [],
      estimatedCostUsd: 0.05,
      costFrom: 'declared',
      estimatedSeconds: 2,
      waitMs: expect.any(Number),
      excluded: null,
    });
  });

  it('skips an agent whose circuit is open (opened by real failures of its model), naming why', async () => {
    fake.respondWith((r) => (r.body?.model === 'gpt-premium' ? { status: 500 } : undefined));
    const failed = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'premium', input: { task: 'break it' } })).body.id, 20_000);
    expect(failed.status).toBe('failed');

    const run = await h.waitForRun((await byCapability('summarize', 'the minutes')).body.id);
    expect(run).toMatchObject({ status: 'succeeded', output: 'fake gpt-standard: the minutes' });
    const { routing } = run.steps[0]!;
    expect(routing).toMatchObject({
      chosen: 'standard',
      reason: "standard: priority 5, above thrifty's 1; passed over as unhealthy: premium (circuit open on openai/gpt-premium)",
    });
    expect(routing!.candidates.find((c) => c.agent === 'premium')).toMatchObject({ healthy: false, problems: ['circuit open on openai/gpt-premium'] });
    expect(fake.requests.filter((r) => r.body?.model === 'gpt-premium')).toHaveLength(1);
  });

  it('skips an agent no live worker process serves', async () => {
    const run = await h.waitForRun((await byCapability('translate', 'bonjour')).body.id);
    expect(run).toMatchObject({ status: 'succeeded', workflow: 'agent/served' });
    expect(run.steps[0]!.routing).toMatchObject({
      chosen: 'served',
      reason: 'served: the only healthy one; passed over as unhealthy: unserved (no live worker process serves it)',
    });
  });

  it('holds to its constraints, naming the agents they excluded', async () => {
    const run = await h.waitForRun((await byCapability('summarize', 'cheaply', { constraints: { maxCostUsd: 0.005 } })).body.id);
    expect(run).toMatchObject({ status: 'succeeded', output: 'fake claude-thrifty: cheaply' });
    expect(run.steps[0]!.routing!.reason).toBe(
      'thrifty: the only one that meets the constraints; excluded: premium (its estimatedCostUsd 0.05 is above maxCostUsd 0.005), standard (its estimatedCostUsd 0.01 is above maxCostUsd 0.005)',
    );
  });

  it('is refused with a 422 naming why each agent was excluded when none meets the constraints', async () => {
    const res = await byCapability('summarize', 'for free', { constraints: { maxCostUsd: 0.0001, maxLatencyMs: 5000 } });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('no agent with the capability "summarize" meets the constraints');
    expect(res.body.error.issues).toEqual([
      { path: 'capability.candidates.premium', message: 'its estimatedCostUsd 0.05 is above maxCostUsd 0.0001' },
      { path: 'capability.candidates.standard', message: 'its estimatedCostUsd 0.01 is above maxCostUsd 0.0001' },
      { path: 'capability.candidates.thrifty', message: 'its estimatedCostUsd 0.001 is above maxCostUsd 0.0001' },
    ]);
  });

  it('is refused with a 422 for a capability no agent declares, and for a bad constraint', async () => {
    const none = await byCapability('juggle', 'balls');
    expect(none.status).toBe(422);
    expect(none.body.error.message).toBe('no agent declares the capability "juggle"');
    const bad = await byCapability('summarize', 'x', { constraints: { maxCostUsd: -1 } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.message).toContain('constraints.maxCostUsd');
  });
});

describe('a run that names a capability some agents declare no cost for', () => {
  it('prices an agent without estimatedCostUsd from its model, picks it below a dearer declared one, and says the figure was priced', async () => {
    const res = await byCapability('classify', 'is this spam?');
    expect(res.status).toBe(202);
    const run = await h.waitForRun(res.body.id);
    expect(run).toMatchObject({ status: 'succeeded', workflow: 'agent/mini', output: 'fake gpt-4o-mini: is this spam?' });
    const routing = run.steps[0]!.routing!;
    const costs = routing.candidates.map((c) => [c.agent, c.costFrom, c.estimatedCostUsd]);
    expect(costs).toEqual([
      ['declared', 'declared', 0.01],
      ['mini', 'priced', expect.any(Number)],
      ['unpriced', null, null],
    ]);
    // Its prompt's tokens (as a budget counts them) at $0.15 per million, 1000 output tokens at $0.60.
    const priced = routing.candidates.find((c) => c.agent === 'mini')!.estimatedCostUsd!;
    const prompt = estimateInputTokens({ model: 'gpt-4o-mini', system: 'Classify the text.', messages: [] });
    expect(priced).toBeCloseTo((prompt * 0.15 + 1000 * 0.6) / 1e6, 10);
    expect(routing.reason).toBe(`mini: estimated cost ${priced} USD (priced from its model), below declared's 0.01`);
  });

  it('holds a priced agent to maxCostUsd by its priced figure, and excludes one whose model has no price', async () => {
    const res = await byCapability('classify', 'for almost nothing', { constraints: { maxCostUsd: 0.0005 } });
    expect(res.status).toBe(422);
    const issues = res.body.error.issues as { path: string; message: string }[];
    expect(issues.map((i) => i.path)).toEqual(['capability.candidates.declared', 'capability.candidates.mini', 'capability.candidates.unpriced']);
    expect(issues[0]!.message).toBe('its estimatedCostUsd 0.01 is above maxCostUsd 0.0005');
    expect(issues[1]!.message).toMatch(/^its cost priced from its model, 0\.0006\d* USD, is above maxCostUsd 0\.0005$/);
    expect(issues[2]!.message).toBe('it declares no estimatedCostUsd and its model has no price, to hold to maxCostUsd 0.0005');

    const run = await h.waitForRun((await byCapability('classify', 'cheaply', { constraints: { maxCostUsd: 0.005 } })).body.id);
    expect(run).toMatchObject({ status: 'succeeded', workflow: 'agent/mini' });
    expect(run.steps[0]!.routing!.reason).toBe(
      'mini: the only one that meets the constraints; excluded: declared (its estimatedCostUsd 0.01 is above maxCostUsd 0.005), unpriced (it declares no estimatedCostUsd and its model has no price, to hold to maxCostUsd 0.005)',
    );
  });
});

describe('GET /v1/agents?capability=', () => {
  it('lists only the agents that declare it, with their priority and capability types', async () => {
    const res = await h.request('GET', '/v1/agents?capability=summarize');
    expect(res.status).toBe(200);
    expect(res.body.agents.map((a: { name: string }) => a.name).sort()).toEqual(['premium', 'standard', 'thrifty']);
    expect(res.body.agents.find((a: { name: string }) => a.name === 'premium')).toMatchObject({
      priority: 10,
      capabilities: [{ name: 'summarize', inputTypes: ['text'], outputTypes: ['summary'] }],
    });
    expect((await h.request('GET', '/v1/agents?capability=juggle')).body.agents).toEqual([]);
  });
});

describe('an orchestrator delegating by capability', () => {
  it('gets the answer of the agent chosen for it, and the child step records the choice', async () => {
    // The orchestrator's first turn names a capability, not an agent; its next turn answers.
    fake.respondWith((r) => {
      if (r.body?.model !== 'gpt-boss') return undefined;
      return endsWithToolResults(r.body)
        ? { text: 'done' }
        : { toolCalls: [{ name: 'delegate', input: { agent: '*', capability: 'summarize', task: 'summarise the memo' } }] };
    });
    const run = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'boss', input: { task: 'handle the memo' } })).body.id, 20_000);
    expect(run.status, JSON.stringify(run.steps.map((s) => [s.stepId, s.error]))).toBe('succeeded');
    const offered = fake.requests.find((r) => r.body?.model === 'gpt-boss')!.body.tools[0].function;
    expect(offered.parameters.properties.capability).toMatchObject({ enum: ['summarize'] });
    expect(offered.parameters.properties.agent.enum).toEqual(['premium', 'standard', 'thrifty', '*']);
    const child = run.steps.find((s) => s.parent === 'boss')!;
    // premium's circuit is still open (the test above): standard is chosen.
    expect(child).toMatchObject({ stepId: 'boss.1.standard', agent: 'standard', status: 'succeeded', output: 'fake gpt-standard: summarise the memo' });
    expect(child.routing).toMatchObject({
      capability: 'summarize',
      chosen: 'standard',
      reason: "standard: priority 5, above thrifty's 1; passed over as unhealthy: premium (circuit open on openai/gpt-premium)",
    });
    const second = fake.requests.filter((r) => r.body?.model === 'gpt-boss')[1]!;
    expect(JSON.stringify(second.body.messages)).toContain('fake gpt-standard: summarise the memo');
  });

  it('gets a tool error naming the capabilities when none of its delegates declares the one it named', async () => {
    fake.respondWith((r) => {
      if (r.body?.model !== 'gpt-boss') return undefined;
      return endsWithToolResults(r.body) ? { text: 'gave up' } : { toolCalls: [{ name: 'delegate', input: { capability: 'translate', task: 'hola' } }] };
    });
    const run = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'boss', input: { task: 'translate' } })).body.id, 20_000);
    expect(run).toMatchObject({ status: 'succeeded', output: 'gave up' });
    const second = fake.requests.filter((r) => r.body?.model === 'gpt-boss')[1]!;
    expect(JSON.stringify(second.body.messages)).toContain(
      'no agent declares the capability \\"translate\\" among the agents this step may delegate to; the capabilities are: summarize',
    );
  });
});

describe('a run that names a capability, while an agent is paused', () => {
  it('passes over an agent whose model a 429 paused, naming the pause', async () => {
    fake.respondWith((r) => (r.body?.model === 'claude-thrifty' ? { status: 429, headers: { 'retry-after': '30' } } : undefined));
    const pausing = (await h.request('POST', '/v1/runs', { agent: 'thrifty', input: { task: 'slow down' } })).body.id as string;
    await poll(
      'the pause of claude-thrifty (GET /v1/limits)',
      async () => (await h.request('GET', '/v1/limits')).body.paused as { scope: string }[],
      (paused) => paused.some((p) => p.scope === 'anthropic/claude-thrifty'),
      { timeoutMs: 20_000 },
    );

    // premium is excluded by cost (its circuit is open too); thrifty is paused: standard goes.
    const run = await h.waitForRun((await byCapability('summarize', 'while paused', { constraints: { maxCostUsd: 0.02 } })).body.id);
    expect(run).toMatchObject({ status: 'succeeded', output: 'fake gpt-standard: while paused' });
    expect(run.steps[0]!.routing!.reason).toBe(
      'standard: the only healthy one; passed over as unhealthy: thrifty (anthropic/claude-thrifty paused); excluded: premium (its estimatedCostUsd 0.05 is above maxCostUsd 0.02)',
    );
    const thrifty = run.steps[0]!.routing!.candidates.find((c) => c.agent === 'thrifty')!;
    expect(thrifty).toMatchObject({ healthy: false, problems: ['anthropic/claude-thrifty paused'] });
    expect(thrifty.waitMs).toBeGreaterThan(0);
    expect((await h.request('POST', `/v1/runs/${pausing}/cancel`)).status).toBe(200);
  });
});
