/** The Anthropic and OpenAI providers over their real SDKs, against the fake HTTP server. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedAgent } from '../src/agents/agent-spec.js';
import { AgentsFile } from '../src/agents/agent-spec.js';
import { NonRetryableError, RateLimitedError, RetryableError, StepTimeoutError } from '../src/errors/index.js';
import { AnthropicProvider } from '../src/providers/anthropic.js';
import { createProvider } from '../src/providers/index.js';
import { OpenAIProvider } from '../src/providers/openai.js';
import type { CompletionRequest, Provider } from '../src/providers/provider.js';
import { startFakeLlmServer, type FakeLlmServer } from './fixtures/fake-llm-server.js';

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
