/** The Anthropic and OpenAI providers over their real SDKs, against the fake HTTP server. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedAgent } from '../../src/model/agent.js';
import { AgentsFile } from '../../src/model/agent.js';
import { NonRetryableError, RateLimitedError, RetryableError, StepTimeoutError } from '../../src/errors/index.js';
import { AnthropicProvider } from '../../src/calls/vendors/anthropic/adapter.js';
import { createProvider } from '../../src/calls/vendors/index.js';
import { OpenAIProvider } from '../../src/calls/vendors/openai/adapter.js';
import type { CompletionRequest, Provider } from '../../src/calls/provider.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';

let server: FakeLlmServer;
beforeAll(async () => {
  server = await startFakeLlmServer();
});
afterEach(() => server.reset());
afterAll(() => server.close());

function request(prompt: string, overrides: Partial<CompletionRequest> = {}): CompletionRequest {
  return {
    agent: 'research',
    model: 'test-model',
    system: 'You are terse.',
    messages: [{ role: 'user', content: prompt }],
    maxTokens: 64,
    temperature: 0.2,
    signal: new AbortController().signal,
    ...overrides,
  };
}

const providers: { name: string; make: () => Provider }[] = [
  { name: 'anthropic', make: () => new AnthropicProvider({ apiKey: 'sk-ant-test', baseURL: server.anthropicBaseURL }) },
  { name: 'openai', make: () => new OpenAIProvider({ apiKey: 'sk-test', baseURL: server.openaiBaseURL }) },
];

describe.each(providers)('$name provider', ({ make }) => {
  it('returns the text, token usage, model and stop reason', async () => {
    const result = await make().complete(request('Summarise BullMQ'));
    expect(result.text).toBe('fake test-model: Summarise BullMQ');
    expect(result.model).toBe('test-model');
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    expect(result.stopReason).toBeTruthy();
  });

  it('sends the system prompt, the message, temperature and the token limit', async () => {
    await make().complete(request('hello'));
    const body = server.requests[0]?.body;
    expect(JSON.stringify(body)).toContain('You are terse.');
    expect(body.temperature).toBe(0.2);
    expect(body.max_tokens).toBe(64);
    expect(server.requests[0]?.prompt).toBe('hello');
  });

  it('returns a verbatim reply, JSON included', async () => {
    const result = await make().complete(request('plan it [[reply:{"steps":[{"id":"a"}]}]]'));
    expect(JSON.parse(result.text)).toEqual({ steps: [{ id: 'a' }] });
  });

  it('does not retry inside the SDK: a 500 costs exactly one request', async () => {
    await expect(make().complete(request('boom [[status:500]]'))).rejects.toBeInstanceOf(RetryableError);
    expect(server.requests).toHaveLength(1);
  });

  it('leaves retrying to the caller: the next call after a transient failure succeeds', async () => {
    const provider = make();
    const prompt = 'flaky [[fail-first:1:503]]';
    await expect(provider.complete(request(prompt))).rejects.toBeInstanceOf(RetryableError);
    await expect(provider.complete(request(prompt))).resolves.toMatchObject({ text: 'fake test-model: flaky' });
    expect(server.requests).toHaveLength(2);
  });

  it('throws only classified errors', async () => {
    await expect(make().complete(request('slow down [[status:429]] [[retry-after:7]]'))).rejects.toMatchObject({
      constructor: RateLimitedError,
      retryAfterMs: 7000,
    });
    await expect(make().complete(request('bad [[status:400]]'))).rejects.toBeInstanceOf(NonRetryableError);
  });

  it('aborts the HTTP request when the step times out', async () => {
    const controller = new AbortController();
    const pending = make().complete(request('slow [[delay:5000]]', { signal: controller.signal }));
    await expect.poll(() => server.requests.length).toBe(1);
    controller.abort(new StepTimeoutError(50));
    await expect(pending).rejects.toBeInstanceOf(StepTimeoutError);
    await expect.poll(() => server.requests[0]?.aborted).toBe(true);
    expect(server.aborts).toBe(1);
  });
});

describe.each(providers)('$name provider, streaming', ({ name, make }) => {
  const streamed = (prompt: string, overrides: Partial<CompletionRequest> = {}) => {
    const pieces: { text: string; at: number }[] = [];
    const result = make().complete(request(prompt, { onText: (text) => pieces.push({ text, at: Date.now() }), ...overrides }));
    return { pieces, result };
  };

  it('asks the API to stream and hands over each piece as it arrives; the pieces make the final text', async () => {
    const { pieces, result } = streamed('Summarise BullMQ [[chunks:5]] [[chunk-delay:40]]');
    const r = await result;
    expect(server.requests[0]?.body.stream).toBe(true);
    expect(r.text).toBe('fake test-model: Summarise BullMQ');
    expect(pieces.map((p) => p.text).join('')).toBe(r.text);
    expect(pieces).toHaveLength(5);
    // Pieces came as the server sent them, not all at the end.
    expect(pieces.at(-1)!.at - pieces[0]!.at).toBeGreaterThanOrEqual(100);
    expect(r.model).toBe('test-model');
    expect(r.usage.inputTokens).toBeGreaterThan(0);
    expect(r.usage.outputTokens).toBe(Math.ceil(r.text.length / 4));
    expect(r.stopReason).toBe(name === 'anthropic' ? 'end_turn' : 'stop');
    if (name === 'openai') expect(server.requests[0]?.body.stream_options).toEqual({ include_usage: true });
  });

  it('classifies an error status on a streaming request like any other', async () => {
    await expect(streamed('slow down [[status:429]] [[retry-after:3]]').result).rejects.toMatchObject({ constructor: RateLimitedError, retryAfterMs: 3000 });
    await expect(streamed('bad [[status:400]]').result).rejects.toBeInstanceOf(NonRetryableError);
    await expect(streamed('boom [[status:500]]').result).rejects.toBeInstanceOf(RetryableError);
  });

  it('fails retryably when the stream breaks off with a server error event', async () => {
    const { pieces, result } = streamed('half an answer [[chunks:4]] [[stream-error]]');
    await expect(result).rejects.toMatchObject({ constructor: RetryableError, message: expect.stringContaining('fake stream error') });
    expect(pieces.length).toBe(1);
  });

  it('classifies an error event by its type, as it has no HTTP status', async () => {
    await expect(streamed('limit [[stream-error:rate_limit]]').result).rejects.toMatchObject({ constructor: RateLimitedError });
    await expect(streamed('invalid [[stream-error:invalid]]').result).rejects.toMatchObject({ constructor: NonRetryableError });
    // Anthropic's "overloaded_error" means back off, like its 529.
    await expect(streamed('busy [[stream-error:overloaded]]').result).rejects.toMatchObject({
      constructor: name === 'anthropic' ? RateLimitedError : RetryableError,
    });
  });

  it('fails retryably when the stream ends cleanly before the answer is finished', async () => {
    const { pieces, result } = streamed('unfinished [[chunks:4]] [[stream-cut]]');
    await expect(result).rejects.toMatchObject({ constructor: RetryableError });
    expect(pieces.length).toBe(1);
  });

  it('fails retryably when the connection drops before the answer is complete', async () => {
    server.respondWith((req) => {
      if (req.api === 'openai' || req.api === 'anthropic') return { text: 'this answer is never finished', chunks: 6, chunkDelayMs: 100 };
      return undefined;
    });
    const provider = make();
    const pieces: string[] = [];
    const pending = provider.complete(request('cut me off', { onText: (t) => pieces.push(t) }));
    await expect.poll(() => pieces.length, { timeout: 3000 }).toBeGreaterThanOrEqual(1);
    server.dropConnections();
    await expect(pending).rejects.toMatchObject({ constructor: RetryableError });
    expect(pieces.length).toBeLessThan(6);
  });

  it('aborts the stream mid-answer when the step times out', async () => {
    const controller = new AbortController();
    const { pieces, result } = streamed('long answer [[chunks:10]] [[chunk-delay:200]]', { signal: controller.signal });
    await expect.poll(() => pieces.length, { timeout: 3000 }).toBeGreaterThanOrEqual(1);
    controller.abort(new StepTimeoutError(50));
    await expect(result).rejects.toBeInstanceOf(StepTimeoutError);
    await expect.poll(() => server.requests[0]?.aborted).toBe(true);
    expect(pieces.length).toBeLessThan(10);
  });
});

describe('openai provider with an OpenAI-compatible server', () => {
  it('works with a base URL and no API key', async () => {
    const provider = new OpenAIProvider({ baseURL: server.openaiBaseURL });
    const result = await provider.complete(request('local model please', { model: 'llama3' }));
    expect(result.text).toBe('fake llama3: local model please');
    expect(server.requests[0]?.headers.authorization).toMatch(/^Bearer \S+/);
  });
});

describe('createProvider', () => {
  const agents = AgentsFile.parse({
    agents: {
      a: { provider: 'anthropic', model: 'claude-x' },
      o: { provider: 'openai', model: 'gpt-x' },
      e: { provider: 'echo', echo: { latencyMs: 0 } },
    },
  }).agents;
  const resolve = (name: 'a' | 'o' | 'e', extra: Partial<ResolvedAgent>): ResolvedAgent => {
    const spec = agents[name]!;
    return { ...spec, name, model: spec.model ?? 'echo', configuredProvider: spec.provider, ...extra };
  };

  it('builds a provider that answers for each kind of agent', async () => {
    const a = createProvider(resolve('a', { apiKey: 'k', baseURL: server.anthropicBaseURL }));
    const o = createProvider(resolve('o', { baseURL: server.openaiBaseURL }));
    const e = createProvider(resolve('e', {}));
    expect([a.name, o.name, e.name]).toEqual(['anthropic', 'openai', 'echo']);
    expect((await a.complete(request('x', { model: 'claude-x' }))).text).toBe('fake claude-x: x');
    expect((await o.complete(request('y', { model: 'gpt-x' }))).text).toBe('fake gpt-x: y');
    expect((await e.complete(request('z', { agent: 'e' }))).text).toBe('[e] z');
  });
});
