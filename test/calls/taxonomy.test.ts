/**
 * LLM-specific failures over the real SDKs against the fake server: a context-length error and
 * a refusal are not retried, and say so plainly.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../src/errors/index.js';
import { AnthropicProvider } from '../../src/calls/vendors/anthropic/adapter.js';
import { OpenAIProvider } from '../../src/calls/vendors/openai/adapter.js';
import type { CompletionRequest } from '../../src/calls/provider.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';

let server: FakeLlmServer;
beforeAll(async () => {
  server = await startFakeLlmServer();
});
afterEach(() => server.reset());
afterAll(() => server.close());

const req = (overrides: Partial<CompletionRequest> = {}): CompletionRequest => ({
  agent: 'a',
  model: 'm',
  messages: [{ role: 'user', content: 'hi' }],
  maxTokens: 16,
  signal: new AbortController().signal,
  ...overrides,
});
const openai = () => new OpenAIProvider({ apiKey: 'sk', baseURL: server.openaiBaseURL });
const anthropic = () => new AnthropicProvider({ apiKey: 'sk', baseURL: server.anthropicBaseURL });

describe('LLM failure taxonomy', () => {
  it('a context-length error is not retried and says what to change', async () => {
    server.respondWith(() => ({
      status: 400,
      body: {
        error: {
          message: "This model's maximum context length is 8192 tokens",
          type: 'invalid_request_error',
          code: 'context_length_exceeded',
          param: 'messages',
        },
      },
    }));
    const err = await openai()
      .complete(req())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetryableError);
    expect((err as Error).message).toMatch(/^context length exceeded: the prompt \(with maxTokens\) does not fit/);
    server.respondWith(() => ({ status: 413, body: { type: 'error', error: { type: 'request_too_large', message: 'too large' } } }));
    expect(
      (
        (await anthropic()
          .complete(req())
          .catch((e: unknown) => e)) as Error
      ).message,
    ).toMatch(/^context length exceeded/);
  });

  it('a refusal is not retried: Anthropic stop_reason refusal, OpenAI content_filter and refusal text', async () => {
    server.respondWith(() => ({
      body: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'm',
        content: [],
        stop_reason: 'refusal',
        stop_sequence: null,
        usage: { input_tokens: 1, output_tokens: 0 },
      },
    }));
    await expect(anthropic().complete(req())).rejects.toThrow('anthropic refused to answer (stop reason "refusal")');
    const chat = (choice: Record<string, unknown>) => ({
      body: {
        id: 'c',
        object: 'chat.completion',
        created: 1,
        model: 'm',
        choices: [{ index: 0, logprobs: null, ...choice }],
        usage: { prompt_tokens: 1, completion_tokens: 0, total_tokens: 1 },
      },
    });
    server.respondWith(() => chat({ message: { role: 'assistant', content: null, refusal: null }, finish_reason: 'content_filter' }));
    await expect(openai().complete(req())).rejects.toThrow('openai refused to answer (finish reason "content_filter")');
    server.respondWith(() => chat({ message: { role: 'assistant', content: null, refusal: 'I cannot help with that.' }, finish_reason: 'stop' }));
    await expect(openai().complete(req())).rejects.toBeInstanceOf(NonRetryableError);
  });
});
