/**
 * The response cache (an agent's `cache: {ttlSeconds, force?}`), end to end: real Redis, real
 * workers, the OpenAI and Anthropic SDKs against the fake server, whose request log counts the
 * provider calls. The same request within the TTL is answered once by the provider and then from
 * Redis (the step `cached: true`, no tokens, no cost, `costSavedUsd` what the first cost); a
 * request at temperature 1 is not cached unless forced; an answer expires with its TTL; one
 * workspace's answers are never another's; hits show in /v1/stats (cacheHitRate) and /metrics.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentsFile } from '../../src/model/agent.js';
import { canonicalJson, MAX_ANSWER_BYTES, requestHash, ResponseCacheProvider, type AnswerStore } from '../../src/calls/response-cache.js';
import { PriceTable } from '../../src/calls/pricing.js';
import { OpenAIProvider } from '../../src/calls/vendors/openai/adapter.js';
import { silentLogger } from '../../src/logger.js';
import { ResponseCacheStore } from '../../src/store/response-cache.js';
import { cleanupPrefix, keysUnder, newRedis, testPrefix } from '../helpers/redis.js';
import type { CompletionRequest } from '../../src/calls/provider.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

/** The agents file of docs/agents.md#caching. */
const DOC = [...readFileSync(path.resolve(import.meta.dirname, '../../docs/agents.md'), 'utf8').matchAll(/^```yaml\n([\s\S]*?)^```/gm)]
  .map((m) => parseYaml(m[1]!) as { agents?: Record<string, Record<string, unknown>> })
  .find((f) => f.agents?.faq)!;

let fake: FakeLlmServer;
let h: Harness;
let acme: Record<string, string>;
let beta: Record<string, string>;
let admin: Record<string, string>;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'response-cache',
    fake,
    agents: {
      steady: { provider: 'openai', model: 'gpt-4o-mini', temperature: 0, attempts: 1, cache: { ttlSeconds: 60 } },
      claude: { provider: 'anthropic', model: 'claude-sonnet-4-6', temperature: 0, attempts: 1, cache: { ttlSeconds: 60 } },
      warm: { provider: 'openai', model: 'gpt-4o-mini', temperature: 1, attempts: 1, cache: { ttlSeconds: 60 } },
      forced: { provider: 'openai', model: 'gpt-4o-mini', temperature: 1, attempts: 1, cache: { ttlSeconds: 60, force: true } },
      brief: { provider: 'openai', model: 'gpt-4o-mini', temperature: 0, attempts: 1, cache: { ttlSeconds: 1 } },
      streamer: { provider: 'openai', model: 'gpt-4o-mini', temperature: 0, attempts: 1, stream: true, cache: { ttlSeconds: 60 } },
      plain: { provider: 'openai', model: 'gpt-4o-mini', temperature: 0, attempts: 1 },
      ...DOC.agents,
    },
    workflows: [
      {
        name: 'twice',
        steps: [
          { id: 'first', agent: 'steady', input: { task: 'the same question, twice' } },
          { id: 'again', agent: 'steady', dependsOn: ['first'], input: { task: 'the same question, twice' } },
        ],
      },
    ],
  });
  const key = async (workspace: string) => ({
    authorization: `Bearer ${(await h.system.keys.create({ workspace, scopes: ['runs:write', 'runs:read'] })).key}`,
  });
  acme = await key('acme');
  beta = await key('beta');
  admin = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'ops', scopes: ['admin'] })).key}` };
}, 30_000);

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

/** Run `agent` on `task` (as `who`) to its end; the run's view. */
async function run(agent: string, task: string, who = acme) {
  const res = await h.request('POST', '/v1/runs', { agent, input: { task } }, who);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const id = res.body.id as string;
  for (const deadline = Date.now() + 20_000; ;) {
    const view = await h.request('GET', `/v1/runs/${id}`, undefined, who);
    if (['succeeded', 'failed', 'cancelled', 'partial_success', 'budget_exceeded'].includes(view.body.status)) return view.body;
    if (Date.now() > deadline) throw new Error(`run ${id} did not finish: ${JSON.stringify(view.body)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Provider calls the fake server got whose prompt is `task`. */
const callsOf = (task: string) => fake.requests.filter((r) => r.prompt === task).length;

describe('the response cache', () => {
  it('answers the same request twice with one provider call: the second step cached, free, with the cost it saved', async () => {
    for (const agent of ['steady', 'claude']) {
      const task = `summarise the queue (${agent})`;
      const first = await run(agent, task);
      const second = await run(agent, task);
      expect(callsOf(task)).toBe(1);
      const [a, b] = [first.steps[0], second.steps[0]];
      expect(b.output).toBe(a.output);
      expect(a.cached).toBeFalsy();
      expect(a.usage.costUsd).toBeGreaterThan(0);
      expect(b).toMatchObject({ status: 'succeeded', cached: true, model: a.model });
      expect(b.usage).toMatchObject({ inputTokens: 0, outputTokens: 0, costUsd: 0, cachedCalls: 1, costSavedUsd: a.usage.costUsd });
      // The run's usage sums its steps', the cache counts with them.
      expect(second.usage).toMatchObject({ cachedCalls: 1, costSavedUsd: a.usage.costUsd });
    }
  });

  it("sums the cache counts into a workflow run's usage", async () => {
    const res = await h.request('POST', '/v1/runs', { workflow: 'twice', input: {} }, acme);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const view = await h.request('GET', `/v1/runs/${res.body.id}`, undefined, acme);
    for (const deadline = Date.now() + 20_000; view.body.status !== 'succeeded' && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 20));
      view.body = (await h.request('GET', `/v1/runs/${res.body.id}`, undefined, acme)).body;
    }
    expect(view.body.status).toBe('succeeded');
    const [first, again] = view.body.steps;
    expect(callsOf('the same question, twice')).toBe(1);
    expect(again).toMatchObject({ stepId: 'again', cached: true });
    expect(view.body.usage).toMatchObject({ inputTokens: first.usage.inputTokens, cachedCalls: 1, costSavedUsd: first.usage.costUsd });
  });

  it('leaves an agent without `cache` alone: it calls every time, beside one that is answered once', async () => {
    const task = 'a shared task';
    await run('steady', task);
    await run('plain', task);
    // `plain` has no cache: it always calls; `steady` called once.
    await run('plain', task);
    expect(callsOf(task)).toBe(3);
    await run('steady', task);
    expect(callsOf(task)).toBe(3);
  });

  it('does not cache a request at temperature 1, unless the agent forces it', async () => {
    const task = 'pick a colour';
    const a = await run('warm', task);
    const b = await run('warm', task);
    expect(callsOf(task)).toBe(2);
    expect(a.steps[0].cached).toBeFalsy();
    expect(b.steps[0].cached).toBeFalsy();
    await run('forced', task);
    const d = await run('forced', task);
    expect(callsOf(task)).toBe(3);
    expect(d.steps[0].cached).toBe(true);
  });

  it('forgets an answer after its TTL: the request goes to the provider again', async () => {
    const task = 'what time is it';
    const cached = () => h.system.engine.redis.keys(`${h.prefix}*rcache*`);
    const before = new Set(await cached());
    await run('brief', task);
    const [answer] = (await cached()).filter((k) => !before.has(k));
    expect(answer).toBeDefined();
    await run('brief', task);
    expect(callsOf(task)).toBe(1);
    // Its one second over, Redis has let the answer go.
    await poll(
      'the cached answer to expire',
      () => h.system.engine.redis.exists(answer!),
      (n) => n === 0,
    );
    const third = await run('brief', task);
    expect(callsOf(task)).toBe(2);
    expect(third.steps[0].cached).toBeFalsy();
  });

  it("keeps each workspace's answers apart", async () => {
    const task = 'the plan for Q3';
    await run('steady', task, acme);
    await run('steady', task, acme);
    expect(callsOf(task)).toBe(1);
    const other = await run('steady', task, beta);
    expect(callsOf(task)).toBe(2);
    expect(other.steps[0].cached).toBeFalsy();
    expect((await run('steady', task, beta)).steps[0].cached).toBe(true);
    expect(callsOf(task)).toBe(2);
  });

  it('gives a streaming step its cached text, as its output', async () => {
    const task = 'stream me a line';
    const first = await run('streamer', task);
    const second = await run('streamer', task);
    expect(callsOf(task)).toBe(1);
    expect(second.steps[0]).toMatchObject({ cached: true, output: first.steps[0].output });
  });

  it('shows the hit rate per agent in /v1/stats and /metrics', async () => {
    const stats = await h.request('GET', '/v1/stats', undefined, acme);
    expect(stats.status).toBe(200);
    const claude = stats.body.agents.claude;
    expect(claude.cache).toEqual({ hits: 1, costSavedUsd: expect.any(Number) });
    expect(claude.cache.costSavedUsd).toBeGreaterThan(0);
    expect(claude.cacheHitRate).toBe(0.5);
    expect(stats.body.agents.plain.cacheHitRate).toBe(0);
    const metrics = (await h.request('GET', '/metrics', undefined, admin)).body as string;
    expect(metrics).toContain('switchyard_response_cache_lookups_total{agent="claude",result="hit"} 1');
    expect(metrics).toContain('switchyard_response_cache_lookups_total{agent="claude",result="miss"} 1');
    expect(metrics).toContain('switchyard_response_cache_hit_ratio{agent="claude"} 0.5');
    // A cached step leaves nothing of the request in Redis but its hash: no prompt, no key.
    const keys = await h.system.engine.redis.keys(`${h.prefix}*rcache*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) {
      expect(k).toMatch(/:rcache:[0-9a-f]{64}$/);
      const value = (await h.system.engine.redis.get(k))!;
      expect(value).not.toContain('test-key');
    }
  });
});

describe('the agents file of docs/agents.md#caching', () => {
  it('checks, and its agent answers a repeated question once', async () => {
    expect(AgentsFile.safeParse(DOC).success).toBe(true);
    const task = 'How do I cancel a run?';
    const first = await run('faq', task);
    const again = await run('faq', task);
    expect(callsOf(task)).toBe(1);
    expect(again.steps[0]).toMatchObject({ cached: true, output: first.steps[0].output, usage: { costSavedUsd: first.steps[0].usage.costUsd } });
  });
});

describe("a workspace agent's cache", () => {
  it('is checked like the agents file: a TTL of 0 is a 422 naming the field', async () => {
    const writer = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'acme', scopes: ['agents:write', 'runs:read'] })).key}` };
    const bad = await h.request('POST', '/v1/agents', { name: 'cached', provider: 'openai', model: 'gpt-4o-mini', cache: { ttlSeconds: 0 } }, writer);
    expect(bad.status).toBe(422);
    expect(JSON.stringify(bad.body)).toContain('cache.ttlSeconds');
    const odd = await h.request('POST', '/v1/agents', { name: 'cached', provider: 'openai', model: 'gpt-4o-mini', promptCache: 'always' }, writer);
    expect(odd.status).toBe(422);
    expect(JSON.stringify(odd.body)).toContain('promptCache');
  });
});

describe('the request hash', () => {
  const req = (over: Partial<CompletionRequest> = {}): CompletionRequest => ({
    agent: 'a',
    model: 'm',
    system: 's',
    messages: [{ role: 'user', content: 'hi' }],
    temperature: 0,
    maxTokens: 10,
    signal: new AbortController().signal,
    ...over,
  });

  it('is the same for the same request, whatever its keys order, its call key, holder or signal', () => {
    const a = requestHash('openai', req());
    const { maxTokens, ...rest } = req();
    const b = requestHash('openai', { ...rest, maxTokens, callKey: 'other', holder: { runId: 'r', workspaceId: 'w', tag: 't', stepId: 's', attempt: 2 } });
    expect(a).toBe(b);
    expect(canonicalJson({ b: 1, a: { d: 2, c: [{ f: 1, e: 2 }] } })).toBe('{"a":{"c":[{"e":2,"f":1}],"d":2},"b":1}');
  });

  it('differs with the provider, the model, the system prompt, the messages, the tools or the parameters', () => {
    const base = requestHash('openai', req());
    const others = [
      requestHash('anthropic', req()),
      requestHash('openai', req({ model: 'n' })),
      requestHash('openai', req({ system: 't' })),
      requestHash('openai', req({ messages: [{ role: 'user', content: 'ho' }] })),
      requestHash('openai', req({ tools: [{ name: 'x', description: '', inputSchema: {} }] })),
      requestHash('openai', req({ temperature: 0.5 })),
      requestHash('openai', req({ maxTokens: 11 })),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });
});

describe('what the cache keeps', () => {
  it('keeps an answer up to MAX_ANSWER_BYTES; a larger one is answered, not kept; a Redis that fails is passed by', async () => {
    const prefix = testPrefix('rcache-size');
    const redis = newRedis();
    const scope = { tag: prefix, workspace: 'default' };
    const provider = (store: AnswerStore) =>
      new ResponseCacheProvider(new OpenAIProvider({ apiKey: 'k', baseURL: fake.openaiBaseURL }), {
        spec: { ttlSeconds: 60, force: false },
        store,
        scopeOf: () => scope,
        prices: new PriceTable(),
        logger: silentLogger,
      });
    const ask = (p: ResponseCacheProvider, text: string) =>
      p.complete({
        agent: 'a',
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: text }],
        temperature: 0,
        maxTokens: 100_000,
        signal: AbortSignal.timeout(10_000),
      });
    try {
      const cache = provider(new ResponseCacheStore(redis));
      const big = 'x'.repeat(MAX_ANSWER_BYTES + 1);
      expect((await ask(cache, `[[reply:${big}]]`)).text).toBe(big);
      expect((await ask(cache, `[[reply:${big}]]`)).cached).toBeUndefined();
      expect(await keysUnder(prefix)).toEqual([]);
      await ask(cache, '[[reply:small]]');
      expect((await ask(cache, '[[reply:small]]')).cached).toEqual({ costSavedUsd: expect.any(Number) });
      expect(await keysUnder(prefix)).toHaveLength(1);
      // A store that cannot be reached: the call goes to the provider, and is answered.
      const broken: AnswerStore = { get: () => Promise.reject(new Error('down')), put: () => Promise.reject(new Error('down')) };
      const before = fake.requests.length;
      expect((await ask(provider(broken), '[[reply:small]]')).text).toBe('small');
      expect(fake.requests.length).toBe(before + 1);
    } finally {
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
  });
});
