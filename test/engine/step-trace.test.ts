/**
 * What a step keeps to debug its calls, piece by piece: cutting JSON to a size, the record of
 * tool calls, and the trace of provider calls (the request as sent, the answer or the
 * provider's error body from the real SDKs against the fake server, never a key).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clipJson, clipText, jsonTextBytes } from '../../src/lang/clip-json.js';
import { StepTrace } from '../../src/engine/step-trace.js';
import { callRecord, callsOf, fitCalls, type CallOutcome } from '../../src/kinds/shared/tool-calls.js';
import { CapacityWaitError } from '../../src/errors/index.js';
import { AnthropicProvider } from '../../src/calls/vendors/anthropic/adapter.js';
import { OpenAIProvider } from '../../src/calls/vendors/openai/adapter.js';
import { buildMessages } from '../../src/calls/prompt.js';
import type { ChatMessage, CompletionRequest, Provider } from '../../src/calls/provider.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';

describe('clipJson', () => {
  it('leaves a value that fits as it is', () => {
    const v = { a: 'short', b: [1, 2, 3] };
    expect(clipJson(v, 1000)).toEqual({ value: v, truncated: false });
  });

  it('cuts long strings to their start and end, and long arrays to their first and last items, until it fits', () => {
    const v = { prompt: `start${'x'.repeat(50_000)}end`, turns: Array.from({ length: 500 }, (_, i) => ({ n: i, text: 'y'.repeat(100) })) };
    const { value, truncated } = clipJson(v, 4000);
    expect(truncated).toBe(true);
    expect(jsonTextBytes(value)).toBeLessThanOrEqual(4000);
    const cut = value as { prompt: string; turns: unknown[] };
    expect(cut.prompt.startsWith('startxxx')).toBe(true);
    expect(cut.prompt.endsWith('xxend')).toBe(true);
    expect(cut.turns[0]).toMatchObject({ n: 0 });
    expect(cut.turns.at(-1)).toMatchObject({ n: 499 });
    expect(cut.turns).toContainEqual(expect.stringMatching(/^\[\d+ items cut\]$/));
  });

  it('says how much of a string it cut', () => {
    expect(clipText('abcdefghij', 4)).toBe('abc … [6 characters cut] … j');
    expect(clipText('abc', 4)).toBe('abc');
  });

  it('puts a note of its size in place of a value it cannot cut small enough', () => {
    const many = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`key${i}`, i]));
    expect(clipJson(many, 200)).toEqual({ value: expect.stringMatching(/^\[\d+ bytes of JSON, too large to keep\]$/), truncated: true });
  });
});

describe('the record of tool calls', () => {
  const call = (id: string, input: unknown) => ({ id, name: 'delegate', input });

  it('records a call with its outcome, its long parts cut; a broken call with its arguments as sent', () => {
    expect(callRecord(2, call('c1', { agent: 'a' }), { error: 'no such agent' })).toEqual({
      turn: 2,
      id: 'c1',
      name: 'delegate',
      args: { agent: 'a' },
      error: 'no such agent',
    });
    expect(callRecord(1, { id: 'c2', name: 'delegate', input: null, invalidInput: '{"agent":' }, { error: 'bad' }).args).toBe('{"agent":');
    const long = callRecord(1, call('c3', { task: 'z'.repeat(10_000) }), { result: 'r'.repeat(10_000) });
    expect(jsonTextBytes(long)).toBeLessThan(3000);
    expect(long.result).toMatch(/characters cut/);
  });

  it('reads the calls of a conversation turn by turn, each with the result it was answered with, or as planned while its turn waits', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: '', toolCalls: [call('a', { agent: 'r' })] },
      { role: 'tool', results: [{ toolCallId: 'a', content: 'earlier' }] },
      { role: 'assistant', content: 'two', toolCalls: [call('b', {}), call('c', {})] },
    ];
    const steps = { c: 's.2.research' };
    // Turn 2 waits: b was refused at once, c became a step.
    const planned = new Map<string, CallOutcome>([
      ['b', { error: 'refused' }],
      ['c', { step: 's.2.research' }],
    ]);
    expect(callsOf(messages, { steps, planned })).toEqual([
      { turn: 1, id: 'a', name: 'delegate', args: { agent: 'r' }, result: 'earlier' },
      { turn: 2, id: 'b', name: 'delegate', args: {}, error: 'refused' },
      { turn: 2, id: 'c', name: 'delegate', args: {}, step: 's.2.research' },
    ]);
    // Its results are in: each call with its own, the step it became kept.
    messages.push({
      role: 'tool',
      results: [
        { toolCallId: 'b', content: 'refused', isError: true },
        { toolCallId: 'c', content: 'found it' },
      ],
    });
    expect(callsOf(messages, { steps }).slice(1)).toEqual([
      { turn: 2, id: 'b', name: 'delegate', args: {}, error: 'refused' },
      { turn: 2, id: 'c', name: 'delegate', args: {}, step: 's.2.research', result: 'found it' },
    ]);
  });

  it('fits calls to a size: their parts cut shorter first, then the oldest left out', () => {
    const calls = Array.from({ length: 40 }, (_, i) => callRecord(i + 1, call(`c${i}`, { task: 't'.repeat(900) }), { result: 'r'.repeat(900) }));
    const shorter = fitCalls(calls, 20_000);
    expect(shorter).toHaveLength(40);
    expect(jsonTextBytes(shorter)).toBeLessThanOrEqual(20_000);
    const fewer = fitCalls(calls, 2_000);
    expect(jsonTextBytes(fewer)).toBeLessThanOrEqual(2_000);
    expect(fewer.length).toBeLessThan(40);
    expect(fewer.at(-1)!.turn).toBe(40);
  });
});

describe('StepTrace', () => {
  let fake: FakeLlmServer;
  beforeAll(async () => {
    fake = await startFakeLlmServer();
  });
  afterEach(() => fake.reset());
  afterAll(() => fake.close());

  const request = (messages: ChatMessage[]): CompletionRequest => ({
    agent: 'a',
    model: 'm-1',
    system: 'Be brief.',
    messages,
    maxTokens: 64,
    signal: new AbortController().signal,
    callKey: 'run.step.1.1',
  });

  it('keeps the last call: the request as it was sent (not as the conversation grew after), and the answer as received', async () => {
    const trace = new StepTrace(10_000, { attempt: 3 });
    const provider = trace.around(new OpenAIProvider({ apiKey: 'sk-test-secret-123456', baseURL: fake.openaiBaseURL }));
    const messages: ChatMessage[] = [{ role: 'user', content: 'first' }];
    await provider.complete(request(messages));
    messages.push({ role: 'assistant', content: 'grown after the call' });
    const { debug } = trace.take();
    expect(debug).toMatchObject({
      attempt: 3,
      request: { model: 'm-1', system: 'Be brief.', messages: [{ role: 'user', content: 'first' }], maxTokens: 64 },
      answer: { text: 'fake m-1: first', stopReason: 'stop' },
    });
    expect(debug!.request).not.toHaveProperty('callKey');
    expect(JSON.stringify(debug)).not.toContain('sk-test-secret');
    // Taken: nothing more until the next call.
    expect(trace.take()).toEqual({});
  });

  it("keeps the provider's error body (status, type, code, message) without its headers, a key it quotes masked", async () => {
    fake.respondWith(() => ({
      status: 401,
      body: {
        error: {
          message: 'Incorrect API key provided: sk-proj-abcdef123456. Find your key at ...',
          type: 'invalid_request_error',
          code: 'invalid_api_key',
          param: null,
        },
      },
    }));
    const trace = new StepTrace(10_000, { attempt: 1 });
    const openai = trace.around(new OpenAIProvider({ apiKey: 'sk-proj-abcdef123456', baseURL: fake.openaiBaseURL }));
    // The error the call ends with (the step's error, its step.failed event, the logs) has it masked too.
    await expect(openai.complete(request([{ role: 'user', content: 'hi' }]))).rejects.toThrow(
      'openai 401: Incorrect API key provided: sk-[redacted]. Find your key at ...',
    );
    expect(trace.take().debug!.error).toEqual({
      status: 401,
      type: 'invalid_request_error',
      code: 'invalid_api_key',
      message: 'Incorrect API key provided: sk-[redacted]. Find your key at ...',
    });

    fake.respondWith(() => ({ status: 529 }));
    const anthropic = trace.around(new AnthropicProvider({ apiKey: 'sk-ant-test', baseURL: fake.anthropicBaseURL }));
    await expect(anthropic.complete(request([{ role: 'user', content: 'hi' }]))).rejects.toThrow();
    expect(trace.take().debug!.error).toEqual({ status: 529, type: 'overloaded_error', message: 'fake error 529' });
  });

  it('keeps nothing of a call that was never made (refused before it: the limiter, the budget), nor anything at all with 0 bytes', async () => {
    const refusing: Provider = { name: 'openai', complete: () => Promise.reject(new CapacityWaitError('waiting for provider capacity: rpm', 500, 'rpm')) };
    const trace = new StepTrace(10_000, { attempt: 1 });
    await expect(trace.around(refusing).complete(request([{ role: 'user', content: 'hi' }]))).rejects.toThrow(CapacityWaitError);
    expect(trace.take()).toEqual({});

    const off = new StepTrace(0, { attempt: 1 });
    expect(off.around(refusing)).toBe(refusing);
    off.record({ calls: [callRecord(1, { id: 'x', name: 'delegate', input: {} }, { error: 'e' })] });
    expect(off.take()).toEqual({});
  });

  it('names the model that answered when it is not the one asked (a fallback)', async () => {
    const fallback: Provider = { name: 'openai', complete: async () => ({ text: 'ok', usage: { inputTokens: 1, outputTokens: 1 }, model: 'm-fallback' }) };
    const trace = new StepTrace(10_000, { attempt: 1 });
    await trace.around(fallback).complete(request([{ role: 'user', content: 'hi' }]));
    expect(trace.take().debug).toEqual({
      attempt: 1,
      request: { model: 'm-1', system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }], maxTokens: 64 },
      answer: { text: 'ok', model: 'm-fallback' },
    });
  });

  it("does not repeat what a succeeded step's record shows: the messages when they are its input, the text when it is its output", async () => {
    const answering = (text: string): Provider => ({
      name: 'openai',
      complete: async () => ({ text, usage: { inputTokens: 1, outputTokens: 1 }, model: 'm-1' }),
    });
    const trace = new StepTrace(10_000, { attempt: 1 });
    const input = { task: 'Sum up', context: { n: 1 } };
    await trace.around(answering('summed')).complete(request(buildMessages(input)));
    expect(trace.take({ input, output: 'summed' }).debug).toEqual({ attempt: 1, request: { model: 'm-1', system: 'Be brief.', maxTokens: 64 }, answer: {} });
    // A structured answer (its output parsed from the text) and a later round: both kept as sent.
    const second: ChatMessage[] = [...buildMessages(input), { role: 'assistant', content: '{"n": "x"}' }, { role: 'user', content: 'fix it' }];
    await trace.around(answering('{"n": 2}')).complete(request(second));
    expect(trace.take({ input, output: { n: 2 } }).debug).toMatchObject({ request: { messages: second }, answer: { text: '{"n": 2}' } });
  });

  it('keeps the rendered input and the calls recorded, with the next write only', () => {
    const trace = new StepTrace(10_000, { attempt: 1 });
    trace.record({ input: { task: 't' } });
    trace.record({ calls: [] });
    expect(trace.take()).toEqual({ input: { task: 't' }, calls: [] });
    expect(trace.take()).toEqual({});
  });
});
