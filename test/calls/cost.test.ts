/**
 * Cost: each step's usage is priced by the model that answered (the shipped price table, or
 * the agents file's `pricing`), and the run sums it; late answers add theirs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PRICES, PriceTable } from '../../src/calls/pricing.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'cost',
    fake,
    agents: {
      mini: { provider: 'openai', model: 'gpt-4o-mini-2024-07-18', attempts: 1 },
      sonnet: { provider: 'anthropic', model: 'claude-sonnet-4-6', attempts: 1 },
      house: { provider: 'openai', model: 'house-model', attempts: 1 },
      unknown: { provider: 'openai', model: 'mystery-1', attempts: 1 },
      // Priced itself, but its fallback is not; and an orchestrator that may delegate to the unpriced agent.
      spare: { provider: 'openai', model: 'gpt-4o', attempts: 1, fallback: [{ provider: 'openai', model: 'mystery-2' }] },
      boss: { provider: 'openai', model: 'gpt-4o', attempts: 1, delegates: ['unknown'] },
      offline: { provider: 'echo' },
    },
    pricing: { 'house-': { inputPerMTok: 1000, outputPerMTok: 2000 } },
    workflows: [
      {
        name: 'priced',
        steps: [
          { id: 'a', agent: 'mini', input: { task: 'one' } },
          { id: 'b', agent: 'sonnet', input: { task: 'two' } },
          { id: 'c', agent: 'house', input: { task: 'three' } },
        ],
      },
    ],
  });
}, 30_000);

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

const cost = (u: { inputTokens: number; outputTokens: number }, inPer: number, outPer: number) => (u.inputTokens * inPer + u.outputTokens * outPer) / 1e6;

describe('cost', () => {
  it('prices each step by the model that answered (longest prefix), and sums the run', async () => {
    const res = await h.request('POST', '/v1/runs', { workflow: 'priced', input: {} });
    const run = await h.waitForRun(res.body.id, 20_000);
    expect(run.status).toBe('succeeded');
    const [a, b, c] = ['a', 'b', 'c'].map((id) => run.steps.find((s) => s.stepId === id)!.usage!);
    expect(a!.costUsd).toBeCloseTo(cost(a!, 0.15, 0.6), 10);
    expect(b!.costUsd).toBeCloseTo(cost(b!, 3, 15), 10);
    expect(c!.costUsd).toBeCloseTo(cost(c!, 1000, 2000), 10);
    expect(run.usage.costUsd).toBeCloseTo(a!.costUsd! + b!.costUsd! + c!.costUsd!, 6);
    expect(run.usage.inputTokens).toBe(a!.inputTokens + b!.inputTokens + c!.inputTokens);
  });

  it('records no cost for a model it has no price for', async () => {
    const res = await h.request('POST', '/v1/runs', { agent: 'unknown', input: { task: 'x' } });
    const run = await h.waitForRun(res.body.id, 10_000);
    expect(run.steps[0]!.usage).not.toHaveProperty('costUsd');
    expect(run.usage).not.toHaveProperty('costUsd');
  });
});

describe('a cost budget on a model without a price', () => {
  it('is refused at submission with a 422 naming the model and how to price it', async () => {
    const res = await h.request('POST', '/v1/runs', { agent: 'unknown', input: { task: 'x' }, budget: { maxCostUsd: 1 } });
    expect(res.status).toBe(422);
    expect(res.body.error.issues[0].path).toBe('budget.maxCostUsd');
    expect(res.body.error.message).toContain('no price is known for model "mystery-1" (agent "unknown")');
    expect(res.body.error.message).toContain('`pricing:` in the agents file');
  });

  it('counts the models a run may reach: fallbacks and delegates', async () => {
    const fallback = await h.request('POST', '/v1/runs', { agent: 'spare', input: { task: 'x' }, budget: { maxCostUsd: 1 } });
    expect(fallback.status).toBe(422);
    expect(fallback.body.error.message).toContain('"mystery-2" (agent "spare")');
    const delegated = await h.request('POST', '/v1/runs', {
      workflow: { name: 'ask-boss', steps: [{ id: 'b', agent: 'boss', input: { task: 'x' } }] },
      input: {},
      budget: { maxCostUsd: 1 },
    });
    expect(delegated.status).toBe(422);
    expect(delegated.body.error.message).toContain('"mystery-1" (agent "unknown")');
  });

  it('takes the run with a token budget, with a cost budget on priced and echo models, and with the model priced in the agents file', async () => {
    for (const body of [
      { agent: 'unknown', input: { task: 'x' }, budget: { maxTokens: 100_000 } },
      { workflow: 'priced', input: {}, budget: { maxCostUsd: 1 } },
      { agent: 'offline', input: { task: 'x' }, budget: { maxCostUsd: 1 } },
    ]) {
      const res = await h.request('POST', '/v1/runs', body);
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      await h.waitForRun(res.body.id, 10_000);
    }
  });
});

describe('PriceTable', () => {
  it('takes the longest matching prefix, and the agents file over the defaults', () => {
    const t = new PriceTable({ 'gpt-4o': { inputPerMTok: 9, outputPerMTok: 9 } });
    expect(t.priceOf('gpt-4o-mini-2024')).toEqual(DEFAULT_PRICES['gpt-4o-mini']);
    expect(t.priceOf('gpt-4o-2024')).toEqual({ inputPerMTok: 9, outputPerMTok: 9 });
    expect(t.priceOf('claude-opus-4-5-x')).toEqual(DEFAULT_PRICES['claude-opus-4-5']);
    expect(t.priceOf('claude-opus-4-1')).toEqual(DEFAULT_PRICES['claude-opus-4']);
    expect(t.priceOf('nothing')).toBeUndefined();
    expect(t.costUsdOf({ inputTokens: 1_000_000, outputTokens: 500_000 }, 'gpt-4o-mini')).toBe(0.45);
    expect(t.costUsdOf({ inputTokens: 1_000_000, outputTokens: 500_000 }, 'nothing')).toBeUndefined();
  });

  it('does not price a later version or a pro tier as the model a prefix names', () => {
    const t = new PriceTable({ 'llama3.': { inputPerMTok: 0, outputPerMTok: 0 } });
    expect(t.priceOf('gpt-5-2025-08-07')).toEqual(DEFAULT_PRICES['gpt-5']);
    expect(t.priceOf('gpt-5.4')).toBeUndefined();
    expect(t.priceOf('gpt-5.2-2025-12-11')).toEqual(DEFAULT_PRICES['gpt-5.2']);
    expect(t.priceOf('gpt-4.1-mini-2025-04-14')).toEqual(DEFAULT_PRICES['gpt-4.1-mini']);
    expect(t.priceOf('gpt-5.2-pro')).toBeUndefined();
    expect(t.priceOf('gpt-5-pro-2025-10-06')).toEqual(DEFAULT_PRICES['gpt-5-pro']);
    expect(t.priceOf('claude-sonnet-4-6')).toEqual(DEFAULT_PRICES['claude-sonnet-4']);
    expect(t.priceOf('claude-opus-4-6')).toMatchObject({ inputPerMTok: 5, outputPerMTok: 25 });
    expect(t.priceOf('claude-sonnet-5-5')).toBeUndefined();
    // A prefix that ends before the version (`llama3.`) covers every version after it.
    expect(t.priceOf('llama3.2:8b')).toEqual({ inputPerMTok: 0, outputPerMTok: 0 });
  });
});
