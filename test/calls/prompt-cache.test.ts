/**
 * Prompt caching, end to end: real workers and both SDKs against the fake server with its
 * prompt caches simulated (src/simulator/prompt-cache.ts). An Anthropic agent's long stable
 * prefix is sent with `cache_control` (promptCache auto or on; never off, nor auto on a short
 * prefix); a call's usage says what it read from and wrote to the cache, on both wire formats
 * (Anthropic's cache_read/cache_creation_input_tokens, OpenAI's cached_tokens), and is priced at
 * the cache rates; a marked call is reserved as writing its prefix (the dearest case).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentsFile } from '../../src/model/agent.js';
import { costOf, DEFAULT_PRICES, PriceTable } from '../../src/calls/pricing.js';
import { marksPrefix } from '../../src/calls/prompt-cache.js';
import { AnthropicProvider } from '../../src/calls/vendors/anthropic/adapter.js';
import { AdmittedProvider, estimateCall } from '../../src/calls/admission/admission.js';
import { LimitPlan, RedisLimiter } from '../../src/calls/admission/limiter.js';
import { LimitsGate } from '../../src/calls/admission/limits-gate.js';
import { silentLogger } from '../../src/logger.js';
import { parseFlags } from '../../src/simulator/flags.js';
import { ProviderLimits } from '../../src/model/provider-limits.js';
import { cleanupPrefix, newRedis, testPrefix } from '../helpers/redis.js';
import type { CompletionRequest } from '../../src/calls/provider.js';
import type { Usage } from '../../src/model/run.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

/** A system prompt of about 1,500 tokens (the simulator counts a quarter token an ASCII character): above the 1024 minimum. */
const LONG = `You review pull requests for a queue-backed job runner. ${'Check every change against the style guide and the design notes. '.repeat(90)}`;

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer({ promptCache: true });
  h = await startHarness({
    name: 'prompt-cache',
    fake,
    agents: {
      reviewer: { provider: 'anthropic', model: 'claude-sonnet-4-6', systemPrompt: LONG, attempts: 1 },
      pinned: { provider: 'anthropic', model: 'claude-sonnet-4-6', systemPrompt: 'Be brief.', promptCache: 'on', attempts: 1 },
      short: { provider: 'anthropic', model: 'claude-sonnet-4-6', systemPrompt: 'Be brief.', attempts: 1 },
      unmarked: { provider: 'anthropic', model: 'claude-sonnet-4-6', systemPrompt: `${LONG} (unmarked)`, promptCache: 'off', attempts: 1 },
      gpt: { provider: 'openai', model: 'gpt-4o-mini', systemPrompt: LONG, attempts: 1 },
    },
  });
}, 30_000);

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function step(agent: string, task: string) {
  const res = await h.request('POST', '/v1/runs', { agent, input: { task } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const run = await h.waitForRun(res.body.id, 20_000);
  expect(run.status).toBe('succeeded');
  return { run, step: run.steps[0]!, request: fake.requests.filter((r) => r.prompt === task).at(-1)! };
}

/** What `u` costs at `model`'s price, by hand: uncached input, cache reads, cache writes and output at their rates. */
function expected(u: Usage, p: { in: number; read: number; write: number; out: number }): number {
  const read = u.cacheReadTokens ?? 0;
  const write = u.cacheWriteTokens ?? 0;
  return ((u.inputTokens - read - write) * p.in + read * p.read + write * p.write + u.outputTokens * p.out) / 1e6;
}

describe('Anthropic prompt caching', () => {
  it('marks a long system prompt with cache_control; the first call writes it, the next reads it, each priced at its rate', async () => {
    const first = await step('reviewer', 'review PR 1');
    expect(first.request.body.system).toEqual([{ type: 'text', text: LONG, cache_control: { type: 'ephemeral' } }]);
    const second = await step('reviewer', 'review PR 2');
    const [w, r] = [first.step.usage!, second.step.usage!];
    expect(w.cacheWriteTokens).toBeGreaterThanOrEqual(1024);
    expect(w.cacheReadTokens).toBeUndefined();
    expect(r).toMatchObject({ cacheReadTokens: w.cacheWriteTokens });
    expect(r.cacheWriteTokens).toBeUndefined();
    // The prompt's tokens all count as input (Anthropic's input_tokens leaves the cached ones out).
    expect(first.request.answered).toMatchObject({ cacheWriteTokens: w.cacheWriteTokens, inputTokens: w.inputTokens });
    const sonnet = { in: 3, read: 0.3, write: 3.75, out: 15 };
    expect(w.costUsd).toBeCloseTo(expected(w, sonnet), 7);
    expect(r.costUsd).toBeCloseTo(expected(r, sonnet), 7);
    // A read is a tenth of the input price: the second call costs less than the first.
    expect(r.costUsd!).toBeLessThan(w.costUsd!);
    expect(second.run.usage).toMatchObject({ cacheReadTokens: r.cacheReadTokens });
  });

  it('marks a short prefix only when promptCache is on; never when it is off', async () => {
    expect((await step('pinned', 'pinned call')).request.body.system).toEqual([{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }]);
    expect((await step('short', 'short call')).request.body.system).toBe('Be brief.');
    const off = await step('unmarked', 'unmarked call');
    expect(typeof off.request.body.system).toBe('string');
    expect(off.step.usage!.cacheWriteTokens).toBeUndefined();
  });
});

describe('the Anthropic adapter', () => {
  it('marks the last tool when there is no system prompt (tools come first in the prefix), and nothing unasked', async () => {
    const provider = new AnthropicProvider({ apiKey: 'k', baseURL: fake.anthropicBaseURL });
    const tools = [
      { name: 'lookup', description: 'Look a term up', inputSchema: { type: 'object', properties: { term: { type: 'string' } } } },
      { name: 'define', description: 'Define a term', inputSchema: { type: 'object', properties: { term: { type: 'string' } } } },
    ];
    const ask = (task: string, promptCache: boolean) =>
      provider.complete({
        agent: 'a',
        model: 'claude-sonnet-4-6',
        messages: [{ role: 'user', content: task }],
        tools,
        maxTokens: 50,
        promptCache,
        signal: AbortSignal.timeout(10_000),
      });
    await ask('marked tools', true);
    const sent = fake.requests.at(-1)!.body;
    expect(sent.system).toBeUndefined();
    expect(sent.tools.map((t: { cache_control?: unknown }) => t.cache_control)).toEqual([undefined, { type: 'ephemeral' }]);
    await ask('unmarked tools', false);
    expect(JSON.stringify(fake.requests.at(-1)!.body)).not.toContain('cache_control');
  });
});

describe('OpenAI prompt caching', () => {
  it("counts the cached_tokens of a long prompt's second call as cache reads, priced at the model's cached rate", async () => {
    const first = await step('gpt', 'open PR 1');
    const second = await step('gpt', 'open PR 2');
    expect(first.request.body.messages[0]).toEqual({ role: 'system', content: LONG });
    expect(first.step.usage!.cacheReadTokens).toBeUndefined();
    const u = second.step.usage!;
    expect(u.cacheReadTokens).toBeGreaterThanOrEqual(1024);
    expect(u.cacheWriteTokens).toBeUndefined();
    // gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output.
    expect(u.costUsd).toBeCloseTo(expected(u, { in: 0.15, read: 0.075, write: 0.15, out: 0.6 }), 7);
  });
});

describe('reserving a marked call', () => {
  const req = (over: Partial<CompletionRequest>): CompletionRequest => ({
    agent: 'a',
    model: 'claude-sonnet-4-6',
    system: LONG,
    messages: [{ role: 'user', content: 'hi' }],
    maxTokens: 100,
    signal: new AbortController().signal,
    ...over,
  });

  it('reserves its prefix as a cache write (1.25 × input on Anthropic), and an unmarked one as input', () => {
    const prices = new PriceTable();
    const marked = estimateCall(req({ promptCache: true }));
    const plain = estimateCall(req({}));
    expect(marked.inputTokens).toBe(plain.inputTokens);
    expect(marked.cacheWriteTokens).toBeGreaterThan(1024);
    expect(plain.cacheWriteTokens).toBeUndefined();
    const price = DEFAULT_PRICES['claude-sonnet-4']!;
    expect(prices.costUsdOf(marked, 'claude-sonnet-4-6')).toBeCloseTo(costOf(marked, price), 8);
    expect(costOf(marked, price) - costOf(plain, price)).toBeCloseTo((marked.cacheWriteTokens! * (3.75 - 3)) / 1e6, 8);
  });

  it('marks by the setting and the prefix: auto from the model minimum, on always, off never', () => {
    expect(marksPrefix('auto', req({}))).toBe(true);
    expect(marksPrefix('auto', req({ system: 'short' }))).toBe(false);
    expect(marksPrefix('on', req({ system: 'short' }))).toBe(true);
    expect(marksPrefix('off', req({}))).toBe(false);
    // Haiku caches 2048 tokens or more.
    expect(marksPrefix('auto', req({ model: 'claude-haiku-4-5', system: LONG.slice(0, 4000) }))).toBe(false);
  });

  it('prices cache tokens as input under a price that gives no cache rates', () => {
    const t = new PriceTable({ 'house-': { inputPerMTok: 10, outputPerMTok: 20 } });
    expect(t.costUsdOf({ inputTokens: 1000, outputTokens: 0, cacheReadTokens: 600, cacheWriteTokens: 400 }, 'house-1')).toBeCloseTo(0.01, 10);
  });
});

describe('the pricing of docs/budgets-and-limits.md#cached-tokens', () => {
  it("is the shipped price of Claude Sonnet 4, cache rates included, and checks as an agents file's pricing", () => {
    const page = readFileSync(path.resolve(import.meta.dirname, '../../docs/budgets-and-limits.md'), 'utf8');
    const block = [...page.matchAll(/^```yaml\n([\s\S]*?)^```/gm)]
      .map((m) => parseYaml(m[1]!) as { pricing?: Record<string, unknown> })
      .find((f) => f.pricing)!;
    const file = AgentsFile.parse({ agents: {}, ...block });
    expect(file.pricing['claude-sonnet-4']).toEqual(DEFAULT_PRICES['claude-sonnet-4']);
  });
});

describe('the shared limiter', () => {
  it("settles an Anthropic call without its cache reads (Anthropic's input-token limits leave them out)", async () => {
    const prefix = testPrefix('prompt-cache-limits');
    const redis = newRedis();
    const plan = new LimitPlan({ anthropic: ProviderLimits.parse({ models: { 'claude-sonnet-4-6': { tpm: 3000 } } }) });
    const limiter = new RedisLimiter(redis, prefix, plan);
    const provider = new AdmittedProvider(
      new AnthropicProvider({ apiKey: 'k', baseURL: fake.anthropicBaseURL }),
      new LimitsGate({ limiter, target: { provider: 'anthropic' }, leaseMs: 10_000, logger: silentLogger }),
    );
    // A prompt of about 900 tokens (simulated), 850 of them read from the cache.
    const prompt = `limits ${'y'.repeat(3600)}`;
    fake.respondWith((r) => (r.prompt === prompt ? { text: 'ok', cache: { read: 850 } } : undefined));
    try {
      const res = await provider.complete({
        agent: 'a',
        model: 'claude-sonnet-4-6',
        messages: [{ role: 'user', content: prompt }],
        maxTokens: 10,
        signal: AbortSignal.timeout(10_000),
      });
      expect(res.usage.cacheReadTokens).toBe(850);
      expect(res.usage.inputTokens).toBeGreaterThan(850);
      // The next call waits for what this one used to flow out (3,000 a minute: 50 a second): its
      // 54 tokens without the reads, about a second; counted with them (904), about 18 s.
      const next = await limiter.acquire({ provider: 'anthropic', model: 'claude-sonnet-4-6' }, 2700, 10_000);
      expect(next.granted || next.waitMs < 3_000, JSON.stringify(next)).toBe(true);
    } finally {
      fake.respondWith(undefined);
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
  });
});

describe("the simulator's --prompt-cache", () => {
  it('turns its prompt caches on (off by default), from a flag or the config file', () => {
    expect(parseFlags(['--prompt-cache'])).toMatchObject({ config: { promptCache: true } });
    expect(parseFlags([])).toMatchObject({ config: { promptCache: false } });
    expect(parseFlags(['--config', 'sim.yaml'], () => 'promptCache: true')).toMatchObject({ config: { promptCache: true } });
  });
});
