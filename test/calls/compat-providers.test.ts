/**
 * Gemini's and Ollama's OpenAI-compatible endpoints, as the simulator answers in their quirk
 * modes (`quirks: gemini | ollama`), through the real openai SDK: what the servers send (read
 * raw), what the adapter makes of it (plain and streamed answers, tool calls without ids or
 * indexes, usage missing and estimated), the agents files of docs/providers.md, and, on the
 * real engine and Redis, an orchestrator's delegations and a streamed step priced on estimates.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveAgents } from '../../src/agents/registry.js';
import { loadConfig } from '../../src/config/env.js';
import { createProvider } from '../../src/calls/vendors/index.js';
import { OpenAIProvider } from '../../src/calls/vendors/openai/adapter.js';
import { estimateInputTokens } from '../../src/calls/token-estimate.js';
import type { ChatMessage, CompletionRequest, ToolDefinition } from '../../src/calls/provider.js';
import type { Quirks } from '../../src/simulator/config.js';
import { parseFlags } from '../../src/simulator/flags.js';
import { startSimulator } from '../../src/simulator/server.js';
import { StreamedCalls } from '../../src/calls/vendors/openai/compat.js';
import { endsWithToolResults, startFakeLlmServer, type FakeLlmServer, type FakeToolCall } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

const MODES = ['gemini', 'ollama'] as const;
const MODEL: Record<(typeof MODES)[number], string> = { gemini: 'gemini-2.5-flash', ollama: 'llama3.2' };
const GEMINI_3 = 'gemini-3-flash';
const fakes = {} as Record<(typeof MODES)[number], FakeLlmServer>;
let h: Harness;

const delegate: ToolDefinition = {
  name: 'delegate',
  description: 'Give a task to a specialist agent.',
  inputSchema: { type: 'object', properties: { agent: { type: 'string' }, task: { type: 'string' } }, required: ['agent', 'task'] },
};

const request = (model: string, messages: ChatMessage[], more: Partial<CompletionRequest> = {}): CompletionRequest => ({
  agent: 'compat',
  model,
  messages,
  maxTokens: 256,
  signal: new AbortController().signal,
  ...more,
});

/** Two delegations whose ids the server leaves out (Gemini blanks any it is given; `id: ''` for Ollama). */
const twoDelegations: FakeToolCall[] = [
  { id: '', name: 'delegate', input: { agent: 'research', task: 'find sources' } },
  { id: '', name: 'delegate', input: { agent: 'content', task: 'outline a post' } },
];

/** The Server-Sent Events of a streamed answer, read raw from the simulator. */
async function rawStream(fake: FakeLlmServer, model: string): Promise<any[]> {
  const res = await fetch(`${fake.openaiBaseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'go' }], tools: [] }),
  });
  const text = await res.text();
  return [...text.matchAll(/^data: (.*)$/gm)].map((m) => (m[1] === '[DONE]' ? '[DONE]' : JSON.parse(m[1]!)));
}

beforeAll(async () => {
  for (const mode of MODES) fakes[mode] = await startFakeLlmServer({ quirks: mode as Quirks });
  const orchestrator = { provider: 'openai', delegates: ['research', 'content'], attempts: 1 };
  h = await startHarness({
    name: 'compat-providers',
    agents: {
      // Gemini 3 wants each call's thought signature back.
      'gem-tp': { ...orchestrator, model: GEMINI_3, baseURL: fakes.gemini.openaiBaseURL },
      'oll-tp': { ...orchestrator, model: MODEL.ollama, baseURL: fakes.ollama.openaiBaseURL },
      'gem-writer': { provider: 'openai', model: MODEL.gemini, baseURL: fakes.gemini.openaiBaseURL, stream: true, attempts: 1 },
      'oll-writer': { provider: 'openai', model: MODEL.ollama, baseURL: fakes.ollama.openaiBaseURL, stream: true, attempts: 1 },
      research: { provider: 'echo', echo: { latencyMs: 50 } },
      content: { provider: 'echo', echo: { latencyMs: 50 } },
    },
    pricing: { [MODEL.gemini]: { inputPerMTok: 0.3, outputPerMTok: 2.5 }, [MODEL.ollama]: { inputPerMTok: 0.1, outputPerMTok: 0.1 } },
  });
}, 30_000);

afterEach(() => {
  for (const mode of MODES) fakes[mode].reset();
});

afterAll(async () => {
  await h?.close();
  for (const mode of MODES) await fakes[mode]?.close();
  assertAllClosed();
});

describe('the simulator answers as each server does', () => {
  it('gemini: no id, models/ in the model name, empty tool-call ids; a stream of whole calls without index, finish reason stop, no usage', async () => {
    const fake = fakes.gemini;
    fake.respondWith(() => ({ toolCalls: twoDelegations }));
    const body: any = await (
      await fetch(`${fake.openaiBaseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL.gemini, messages: [{ role: 'user', content: 'go' }] }),
      })
    ).json();
    expect(body.id).toBeUndefined();
    expect(body.model).toBe(`models/${MODEL.gemini}`);
    expect(body.choices[0].message.tool_calls.map((c: any) => c.id)).toEqual(['', '']);
    expect(body.usage.prompt_tokens).toBeGreaterThan(0);
    const events = await rawStream(fake, MODEL.gemini);
    const calls = events.flatMap((e) => e.choices?.[0]?.delta?.tool_calls ?? []);
    expect(calls).toHaveLength(2);
    for (const c of calls)
      expect(c).toEqual({
        id: '',
        type: 'function',
        function: { name: 'delegate', arguments: expect.stringContaining('"agent"') },
        extra_content: { google: { thought_signature: expect.any(String) } },
      });
    expect(events.flatMap((e) => e.choices?.map((c: any) => c.finish_reason) ?? []).filter(Boolean)).toEqual(['stop']);
    expect(events.filter((e) => e !== '[DONE]' && e.usage)).toEqual([]);
  });

  it('gemini 3: a conversation whose earlier tool calls come back without their thought signatures is refused, 400', async () => {
    const messages = [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'delegate', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'a', content: 'done' },
    ];
    const post = (model: string) =>
      fetch(`${fakes.gemini.openaiBaseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages }),
      });
    const refused = await post(GEMINI_3);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as any).error.message).toContain('Function call is missing a thought_signature');
    // Gemini 2.5 does not ask for them.
    expect((await post(MODEL.gemini)).status).toBe(200);
  });

  it('ollama: a stream of whole calls without index and no usage; response_format json_schema ignored', async () => {
    const fake = fakes.ollama;
    fake.respondWith(() => ({ toolCalls: twoDelegations }));
    const events = await rawStream(fake, MODEL.ollama);
    const calls = events.flatMap((e) => e.choices?.[0]?.delta?.tool_calls ?? []);
    expect(calls.map((c: any) => 'index' in c)).toEqual([false, false]);
    expect(events.flatMap((e) => e.choices?.map((c: any) => c.finish_reason) ?? []).filter(Boolean)).toEqual(['tool_calls']);
    expect(events.filter((e) => e !== '[DONE]' && e.usage)).toEqual([]);
    // The simulator's own answers (no test plan): JSON fitting the schema from OpenAI, words from Ollama.
    const asked = {
      model: MODEL.ollama,
      messages: [{ role: 'user', content: 'hi' }],
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] } } },
    };
    for (const quirks of ['none', 'ollama'] as const) {
      const sim = await startSimulator({ port: 0, quirks, seed: 1, reply: 'free text' });
      try {
        const res: any = await (
          await fetch(`${sim.openaiBaseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(asked) })
        ).json();
        const content: string = res.choices[0].message.content;
        if (quirks === 'none') expect(JSON.parse(content)).toEqual({ n: expect.any(Number) });
        else expect(content).toBe('free text');
      } finally {
        await sim.close();
      }
    }
  });
});

describe('the pieces of streamed tool calls, put together', () => {
  const assemble = (pieces: Parameters<StreamedCalls['add']>[0][]) => {
    const calls = new StreamedCalls();
    for (const p of pieces) calls.add(p);
    return calls.all.map((c) => [c.id, c.name, c.args]);
  };

  it('by index, as OpenAI sends them (a name in pieces too)', () => {
    expect(
      assemble([
        { index: 0, id: 'a', function: { name: 'del', arguments: '' } },
        { index: 0, function: { name: 'egate' } },
        { index: 1, id: 'b', function: { name: 'delegate', arguments: '{"x"' } },
        { index: 0, function: { arguments: '{}' } },
        { index: 1, function: { arguments: ':1}' } },
      ]),
    ).toEqual([
      ['a', 'delegate', '{}'],
      ['b', 'delegate', '{"x":1}'],
    ]);
  });

  it('one index for several calls of other ids (a proxy in front of Ollama): each its own call', () => {
    expect(
      assemble([
        { index: 0, id: 'a', function: { name: 'delegate', arguments: '{"n":1}' } },
        { index: 0, id: 'b', function: { name: 'delegate', arguments: '{"n":2}' } },
      ]),
    ).toEqual([
      ['a', 'delegate', '{"n":1}'],
      ['b', 'delegate', '{"n":2}'],
    ]);
  });

  it('without an index: a named piece after a call with arguments begins the next; an unnamed one continues the last', () => {
    expect(
      assemble([
        { id: '', function: { name: 'delegate', arguments: '{"n":' } },
        { function: { arguments: '1}' } },
        { id: '', function: { name: 'delegate', arguments: '{"n":2}' } },
      ]),
    ).toEqual([
      ['', 'delegate', '{"n":1}'],
      ['', 'delegate', '{"n":2}'],
    ]);
  });
});

describe('--quirks', () => {
  it('is a flag of the simulator, checked', () => {
    expect(parseFlags(['--quirks', 'gemini'])).toMatchObject({ config: { quirks: 'gemini' } });
    expect(parseFlags([])).toMatchObject({ config: { quirks: 'none' } });
    expect(parseFlags(['--quirks', 'mistral'])).toEqual({ error: expect.stringMatching(/^--quirks: .*"none"\|"gemini"\|"ollama"/) });
  });
});

describe.each(MODES)('the OpenAI adapter on %s', (mode) => {
  const model = MODEL[mode];
  const provider = () => new OpenAIProvider({ baseURL: fakes[mode].openaiBaseURL });

  it('a plain answer: its text, the usage it reports, the model as priced', async () => {
    const result = await provider().complete(request(model, [{ role: 'user', content: 'Say hi' }]));
    expect(result.text).toBe(`fake ${model}: Say hi`);
    expect(result.model).toBe(model);
    expect(result.usage.estimated).toBeUndefined();
    expect(result.usage.inputTokens).toBeGreaterThan(0);
  });

  it('a streamed answer: its pieces in order, and usage the stream did not send estimated and marked', async () => {
    const pieces: string[] = [];
    const req = request(model, [{ role: 'user', content: 'Tell me about queues' }], { onText: (d) => pieces.push(d) });
    const result = await provider().complete(req);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(`fake ${model}: Tell me about queues`);
    expect(result.text).toBe(pieces.join(''));
    expect(fakes[mode].requests[0]!.body.stream_options).toEqual({ include_usage: true });
    expect(result.usage).toEqual({ inputTokens: estimateInputTokens(req), outputTokens: expect.any(Number), estimated: true });
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    expect(result.stopReason).toBe('stop');
  });

  describe.each([false, true])('streamed: %s', (streamed) => {
    const onText = streamed ? { onText: () => undefined } : {};
    // On Gemini, a Gemini 3 model: its calls come signed, and must go back so.
    const callModel = mode === 'gemini' ? GEMINI_3 : model;
    const signed = mode === 'gemini' ? { extra: { google: { thought_signature: expect.any(String) } } } : {};

    it('tool calls without ids get ids of their own, unique and the same for the same request; their results go back under them', async () => {
      fakes[mode].respondWith((r) => (endsWithToolResults(r.body) ? { text: 'both done' } : { toolCalls: twoDelegations }));
      const messages: ChatMessage[] = [{ role: 'user', content: 'Plan a post' }];
      const first = await provider().complete(request(callModel, messages, { tools: [delegate], ...onText }));
      const again = await provider().complete(request(callModel, messages, { tools: [delegate], ...onText }));
      expect(first.toolCalls).toEqual([
        { id: 'call_sy1_0', name: 'delegate', input: { agent: 'research', task: 'find sources' }, ...signed },
        { id: 'call_sy1_1', name: 'delegate', input: { agent: 'content', task: 'outline a post' }, ...signed },
      ]);
      expect(again.toolCalls!.map((c) => c.id)).toEqual(['call_sy1_0', 'call_sy1_1']);
      expect(first.stopReason).toBe('tool_calls');
      const results = first.toolCalls!.map((c) => ({ toolCallId: c.id, content: `done: ${(c.input as { task: string }).task}` }));
      const final = await provider().complete(
        request(callModel, [...messages, { role: 'assistant', content: '', toolCalls: first.toolCalls! }, { role: 'tool', results }], {
          tools: [delegate],
          ...onText,
        }),
      );
      expect(final.text).toBe('both done');
      const sent: any[] = fakes[mode].requests.at(-1)!.body.messages;
      expect(sent.filter((m) => m.role === 'tool').map((m) => m.tool_call_id)).toEqual(['call_sy1_0', 'call_sy1_1']);
      expect(sent.find((m) => m.role === 'assistant').tool_calls.map((c: any) => c.id)).toEqual(['call_sy1_0', 'call_sy1_1']);
      // What came with each call went back with it.
      expect(sent.find((m) => m.role === 'assistant').tool_calls.map((c: any) => c.extra_content)).toEqual(first.toolCalls!.map((c) => c.extra));
    });

    it('an id given twice, or one already used earlier in the conversation, is replaced', async () => {
      fakes[mode].respondWith(() => ({
        toolCalls: [
          { id: 'call_1', name: 'delegate', input: { agent: 'a', task: 'x' } },
          { id: 'call_1', name: 'delegate', input: { agent: 'b', task: 'y' } },
          { id: 'call_old', name: 'delegate', input: { agent: 'c', task: 'z' } },
        ],
      }));
      const earlier: ChatMessage[] = [
        { role: 'user', content: 'Plan' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'call_old', name: 'delegate', input: {} }] },
        { role: 'tool', results: [{ toolCallId: 'call_old', content: 'ok' }] },
        { role: 'user', content: 'More' },
      ];
      const result = await provider().complete(request(model, earlier, { tools: [delegate], ...onText }));
      const ids = result.toolCalls!.map((c) => c.id);
      // Gemini sends every id empty: all three are made here.
      expect(ids).toEqual(mode === 'gemini' ? ['call_sy4_0', 'call_sy4_1', 'call_sy4_2'] : ['call_1', 'call_sy4_1', 'call_sy4_2']);
      expect(result.toolCalls!.map((c) => (c.input as { agent: string }).agent)).toEqual(['a', 'b', 'c']);
    });
  });
});

describe('the agents files of docs/providers.md', () => {
  const page = readFileSync(path.resolve(import.meta.dirname, '../../docs/providers.md'), 'utf8');
  const files = [...page.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((m) => parseYaml(m[1]!) as { agents: Record<string, { baseURL: string }> });
  const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', OPENAI_API_KEY: 'sk-deployment' });

  it('are two, one for each server', () => {
    expect(files.map((f) => Object.values(f.agents)[0]!.baseURL)).toEqual([
      'https://generativelanguage.googleapis.com/v1beta/openai/',
      'http://localhost:11434/v1',
    ]);
  });

  it.each([
    ['gemini', 0, 'Bearer g-key'],
    ['ollama', 1, 'Bearer switchyard-no-key'],
  ] as const)('%s: resolves with its key (never OPENAI_API_KEY), and answers plain and streamed through the SDK', async (mode, i, authorization) => {
    const registry = resolveAgents(files[i], config, 'docs/providers.md', { GEMINI_API_KEY: 'g-key' });
    const [name] = Object.keys(files[i]!.agents);
    const agent = registry.require(name!);
    expect(agent.provider).toBe('openai');
    expect(agent.fallbackReason).toBeUndefined();
    // Its base URL replaced by the simulator answering as that server does.
    const provider = createProvider({ ...agent, baseURL: fakes[mode].openaiBaseURL });
    const plain = await provider.complete(request(agent.model, [{ role: 'user', content: 'hello' }]));
    expect(plain.text).toBe(`fake ${agent.model}: hello`);
    const streamed = await provider.complete(request(agent.model, [{ role: 'user', content: 'hello again' }], { onText: () => undefined }));
    expect(streamed.text).toBe(`fake ${agent.model}: hello again`);
    expect(streamed.usage.estimated).toBe(true);
    expect(fakes[mode].requests.map((r) => r.headers.authorization)).toEqual([authorization, authorization]);
    if (mode === 'gemini') expect(registry.prices.priceOf(agent.model)).toEqual({ inputPerMTok: 0.3, outputPerMTok: 2.5 });
  });

  it('an agent naming a key that is not set runs on echo and says why', () => {
    const registry = resolveAgents(files[0], config, 'docs/providers.md', {});
    expect(registry.require('gemini-writer')).toMatchObject({ provider: 'echo', fallbackReason: 'GEMINI_API_KEY is not set' });
  });
});

describe.each(MODES)('on the engine, %s', (mode) => {
  it('an orchestrator whose tool calls come without ids runs both delegations as child steps and answers', async () => {
    fakes[mode].respondWith((r) => {
      if (!Array.isArray(r.body?.tools) || r.body.tools.length === 0) return undefined;
      return endsWithToolResults(r.body) ? { text: 'A post from sources and an outline.' } : { toolCalls: twoDelegations };
    });
    const agent = mode === 'gemini' ? 'gem-tp' : 'oll-tp';
    const res = await h.request('POST', '/v1/runs', { agent, input: { task: 'Write about queues' } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const run = await h.waitForRun(res.body.id as string, 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('A post from sources and an outline.');
    expect(run.steps.map((s) => [s.stepId, s.status, s.output])).toEqual([
      [agent, 'succeeded', 'A post from sources and an outline.'],
      [`${agent}.1.research`, 'succeeded', '[research] find sources'],
      [`${agent}.1.content`, 'succeeded', '[content] outline a post'],
    ]);
    const last: any[] = fakes[mode].requests.at(-1)!.body.messages;
    expect(last.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, m.content])).toEqual([
      ['call_sy1_0', '[research] find sources'],
      ['call_sy1_1', '[content] outline a post'],
    ]);
    // Gemini 3's thought signatures went back with its calls, through the step's checkpoint.
    const signatures = last.find((m) => m.role === 'assistant').tool_calls.map((c: any) => typeof c.extra_content?.google?.thought_signature);
    expect(signatures).toEqual(mode === 'gemini' ? ['string', 'string'] : ['undefined', 'undefined']);
  });

  it('a streamed step whose stream sent no usage is counted on estimates, priced, and says so', async () => {
    const agent = mode === 'gemini' ? 'gem-writer' : 'oll-writer';
    const res = await h.request('POST', '/v1/runs', { agent, input: { task: 'Write a line on queues' } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const run = await h.waitForRun(res.body.id as string, 20_000);
    expect(run.status).toBe('succeeded');
    const step = run.steps[0]!;
    expect(step.model).toBe(MODEL[mode]);
    expect(step.usage).toMatchObject({ estimated: true, inputTokens: expect.any(Number), outputTokens: expect.any(Number), costUsd: expect.any(Number) });
    const price = mode === 'gemini' ? { in: 0.3, out: 2.5 } : { in: 0.1, out: 0.1 };
    const u = step.usage!;
    expect(u.inputTokens).toBeGreaterThan(0);
    expect(u.outputTokens).toBeGreaterThan(0);
    expect(u.costUsd).toBeCloseTo((u.inputTokens * price.in + u.outputTokens * price.out) / 1e6, 8);
    expect(run.usage.inputTokens).toBe(u.inputTokens);
  });
});
