/**
 * Tool use through the provider seam: tool definitions out, tool calls back (several at once
 * kept whole), tool results in the next turn, in each API's own shapes, streamed and not,
 * over the real Anthropic and OpenAI SDKs against the fake HTTP server; and echo's offline
 * stand-in.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicProvider } from '../../src/calls/vendors/anthropic/adapter.js';
import { EchoProvider } from '../../src/calls/vendors/echo/adapter.js';
import { OpenAIProvider } from '../../src/calls/vendors/openai/adapter.js';
import type { ChatMessage, CompletionRequest, Provider, ToolDefinition } from '../../src/calls/provider.js';
import { sampleFor } from '../../src/lang/schema-sample.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';

let server: FakeLlmServer;
beforeAll(async () => {
  server = await startFakeLlmServer();
});
afterEach(() => server.reset());
afterAll(() => server.close());

const delegate: ToolDefinition = {
  name: 'delegate',
  description: 'Give a task to a specialist agent.',
  inputSchema: {
    type: 'object',
    properties: { agent: { type: 'string', enum: ['research', 'content'] }, task: { type: 'string' }, context: { type: 'object' } },
    required: ['agent', 'task'],
  },
};

function request(messages: ChatMessage[], overrides: Partial<CompletionRequest> = {}): CompletionRequest {
  return { agent: 'tp', model: 'test-model', messages, maxTokens: 256, tools: [delegate], signal: new AbortController().signal, ...overrides };
}

const providers: { name: 'anthropic' | 'openai'; make: () => Provider }[] = [
  { name: 'anthropic', make: () => new AnthropicProvider({ apiKey: 'sk-ant-test', baseURL: server.anthropicBaseURL }) },
  { name: 'openai', make: () => new OpenAIProvider({ apiKey: 'sk-test', baseURL: server.openaiBaseURL }) },
];

describe.each(providers)('$name provider with tools', ({ name, make }) => {
  describe.each([false, true])('streamed: %s', (streamed) => {
    const onText = streamed ? { onText: () => undefined } : {};

    it('returns every tool call of an answer that asks for several at once, in order, with parsed arguments', async () => {
      server.respondWith(() => ({
        text: 'Let me ask two specialists.',
        toolCalls: [
          { id: 'call_a', name: 'delegate', input: { agent: 'research', task: 'find sources', context: { depth: 2 } } },
          { id: 'call_b', name: 'delegate', input: { agent: 'content', task: 'draft an outline' } },
        ],
      }));
      const result = await make().complete(request([{ role: 'user', content: 'Plan a post on queues' }], onText));
      expect(result.toolCalls).toEqual([
        { id: 'call_a', name: 'delegate', input: { agent: 'research', task: 'find sources', context: { depth: 2 } } },
        { id: 'call_b', name: 'delegate', input: { agent: 'content', task: 'draft an outline' } },
      ]);
      expect(result.text).toBe('Let me ask two specialists.');
      expect(result.stopReason).toBe(name === 'anthropic' ? 'tool_use' : 'tool_calls');
      expect(result.usage.outputTokens).toBeGreaterThan(0);
    });

    it('sends the tools and the tool choice in the API’s own shape', async () => {
      await make().complete(request([{ role: 'user', content: 'hi' }], { ...onText, toolChoice: { name: 'delegate' } }));
      const body = server.requests[0]!.body;
      if (name === 'anthropic') {
        expect(body.tools).toEqual([{ name: 'delegate', description: delegate.description, input_schema: delegate.inputSchema }]);
        expect(body.tool_choice).toEqual({ type: 'tool', name: 'delegate' });
      } else {
        expect(body.tools).toEqual([{ type: 'function', function: { name: 'delegate', description: delegate.description, parameters: delegate.inputSchema } }]);
        expect(body.tool_choice).toEqual({ type: 'function', function: { name: 'delegate' } });
      }
    });

    it('sends the assistant’s tool calls and their results back, and gets the final answer', async () => {
      const messages: ChatMessage[] = [
        { role: 'user', content: 'Plan a post on queues' },
        {
          role: 'assistant',
          content: 'Asking.',
          toolCalls: [
            { id: 'call_a', name: 'delegate', input: { agent: 'research', task: 'find sources' } },
            { id: 'call_b', name: 'delegate', input: { agent: 'content', task: 'outline' } },
          ],
        },
        {
          role: 'tool',
          results: [
            { toolCallId: 'call_a', content: 'three sources' },
            { toolCallId: 'call_b', content: 'agent content failed: timeout', isError: true },
          ],
        },
      ];
      server.respondWith(() => ({ text: 'Here is the plan.' }));
      const result = await make().complete(request(messages, onText));
      expect(result.text).toBe('Here is the plan.');
      expect(result.toolCalls).toBeUndefined();
      const sent = server.requests[0]!.body.messages;
      if (name === 'anthropic') {
        expect(sent).toEqual([
          { role: 'user', content: 'Plan a post on queues' },
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'Asking.' },
              { type: 'tool_use', id: 'call_a', name: 'delegate', input: { agent: 'research', task: 'find sources' } },
              { type: 'tool_use', id: 'call_b', name: 'delegate', input: { agent: 'content', task: 'outline' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'call_a', content: 'three sources' },
              { type: 'tool_result', tool_use_id: 'call_b', content: 'agent content failed: timeout', is_error: true },
            ],
          },
        ]);
      } else {
        expect(sent).toEqual([
          { role: 'user', content: 'Plan a post on queues' },
          {
            role: 'assistant',
            content: 'Asking.',
            tool_calls: [
              { id: 'call_a', type: 'function', function: { name: 'delegate', arguments: JSON.stringify({ agent: 'research', task: 'find sources' }) } },
              { id: 'call_b', type: 'function', function: { name: 'delegate', arguments: JSON.stringify({ agent: 'content', task: 'outline' }) } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_a', content: 'three sources' },
          { role: 'tool', tool_call_id: 'call_b', content: 'Error: agent content failed: timeout' },
        ]);
      }
    });
  });

  it('drives a two-turn conversation from directives: a tool call, then text once results come back', async () => {
    const provider = make();
    const first = await provider.complete(request([{ role: 'user', content: 'go [[tool:delegate:{"agent":"research","task":"dig"}]]' }]));
    expect(first.toolCalls).toMatchObject([{ name: 'delegate', input: { agent: 'research', task: 'dig' } }]);
    const second = await provider.complete(
      request([
        { role: 'user', content: 'go [[tool:delegate:{"agent":"research","task":"dig"}]]' },
        { role: 'assistant', content: first.text, toolCalls: first.toolCalls! },
        { role: 'tool', results: [{ toolCallId: first.toolCalls![0]!.id, content: 'dug' }] },
      ]),
    );
    expect(second.toolCalls).toBeUndefined();
    expect(second.text).toBe('fake test-model: go');
  });
});

describe('openai tool calls with arguments that are not JSON', () => {
  it.each([false, true])('keeps the call, with the arguments as sent and no input (streamed: %s)', async (streamed) => {
    server.respondWith(() => ({ toolCalls: [{ id: 'call_x', name: 'delegate', arguments: '{"agent": "research", "task": ' }] }));
    const result = await new OpenAIProvider({ apiKey: 'sk-test', baseURL: server.openaiBaseURL }).complete(
      request([{ role: 'user', content: 'x' }], streamed ? { onText: () => undefined } : {}),
    );
    expect(result.toolCalls).toEqual([{ id: 'call_x', name: 'delegate', input: null, invalidInput: '{"agent": "research", "task": ' }]);
  });
});

describe('echo provider with tools', () => {
  it('calls the first tool with arguments that fit its schema, then answers once the results are in', async () => {
    const echo = new EchoProvider();
    const first = await echo.complete(request([{ role: 'user', content: 'Plan a post' }]));
    expect(first.toolCalls).toEqual([{ id: 'echo_1_1', name: 'delegate', input: { agent: 'research', task: 'Plan a post' } }]);
    expect(first.stopReason).toBe('tool_use');
    const second = await echo.complete(
      request([
        { role: 'user', content: 'Plan a post' },
        { role: 'assistant', content: '', toolCalls: first.toolCalls! },
        { role: 'tool', results: [{ toolCallId: 'echo_1_1', content: '[research] Plan a post' }] },
      ]),
    );
    expect(second.toolCalls).toBeUndefined();
    expect(second.text).toBe('[tp] Plan a post\n[research] Plan a post');
  });

  it('calls no tool when tools are not allowed, and the forced one whatever the conversation', async () => {
    const echo = new EchoProvider();
    expect((await echo.complete(request([{ role: 'user', content: 'x' }], { toolChoice: 'none' }))).toolCalls).toBeUndefined();
    const other: ToolDefinition = {
      name: 'verdict',
      description: 'Judge.',
      inputSchema: { type: 'object', properties: { approved: { type: 'boolean' }, score: { type: 'number', minimum: 1 } }, required: ['approved', 'score'] },
    };
    const forced = await echo.complete(request([{ role: 'user', content: 'x' }], { tools: [delegate, other], toolChoice: { name: 'verdict' } }));
    expect(forced.toolCalls).toEqual([{ id: 'echo_1_1', name: 'verdict', input: { approved: true, score: 1 } }]);
  });
});

describe('sampleFor', () => {
  it('builds a value that fits the schema: required properties, enums, consts, arrays, alternatives', () => {
    const schema = {
      type: 'object',
      properties: {
        kind: { const: 'plan' },
        mode: { enum: ['fast', 'slow'] },
        steps: { type: 'array', minItems: 2, items: { type: 'object', properties: { id: { type: 'string' }, n: { type: 'integer' } } } },
        maybe: { anyOf: [{ type: 'boolean' }, { type: 'string' }] },
        nullable: { type: ['null', 'number'] },
        left: { type: 'string' },
      },
      required: ['kind', 'mode', 'steps', 'maybe', 'nullable'],
    };
    expect(sampleFor(schema, 'T')).toEqual({
      kind: 'plan',
      mode: 'fast',
      steps: [
        { id: 'T', n: 0 },
        { id: 'T', n: 0 },
      ],
      maybe: true,
      nullable: 0,
    });
  });
});
