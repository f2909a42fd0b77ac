/** The real Anthropic and OpenAI SDKs against the LLM simulator: answers, streams, tool calls, JSON, usage. */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';

let sim: Simulator;
let anthropic: Anthropic;
let openai: OpenAI;
beforeAll(async () => {
  sim = await startSimulator({ port: 0, seed: 1, outputTokens: 12, tokensPerSecond: 5000 });
  anthropic = new Anthropic({ apiKey: 'sk-ant-sim', baseURL: sim.anthropicBaseURL, maxRetries: 0 });
  openai = new OpenAI({ apiKey: 'sk-sim', baseURL: sim.openaiBaseURL, maxRetries: 0 });
});
afterAll(() => sim.close());

const schema = {
  type: 'object',
  properties: { verdict: { type: 'string', enum: ['approve', 'reject'] }, score: { type: 'integer', minimum: 3 }, notes: { type: 'string' } },
  required: ['verdict', 'score', 'notes'],
};

describe('anthropic SDK', () => {
  it('gets a text answer of the configured size, with usage and a stop reason', async () => {
    const m = await anthropic.messages.create({ model: 'claude-sim', max_tokens: 100, messages: [{ role: 'user', content: 'Summarise BullMQ' }] });
    expect(m.model).toBe('claude-sim');
    expect(m.content[0]!.type).toBe('text');
    expect(m.stop_reason).toBe('end_turn');
    expect(m.usage.input_tokens).toBeGreaterThan(0);
    expect(m.usage.output_tokens).toBeGreaterThanOrEqual(12);
  });

  it('streams: the SDK assembles the text from the deltas, and the final message has the usage', async () => {
    const stream = anthropic.messages.stream({ model: 'claude-sim', max_tokens: 100, messages: [{ role: 'user', content: 'stream it' }] });
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const m = await stream.finalMessage();
    expect(deltas.length).toBeGreaterThan(3);
    expect(m.content[0]).toMatchObject({ type: 'text', text: deltas.join('') });
    expect(m.stop_reason).toBe('end_turn');
    expect(m.usage.output_tokens).toBeGreaterThanOrEqual(12);
  });

  it('calls a forced tool with input that fits its schema, streamed or not', async () => {
    const params = {
      model: 'claude-sim',
      max_tokens: 100,
      messages: [{ role: 'user' as const, content: 'review' }],
      tools: [{ name: 'answer', description: 'the verdict', input_schema: schema as Anthropic.Tool.InputSchema }],
      tool_choice: { type: 'tool' as const, name: 'answer' },
    };
    const whole = await anthropic.messages.create(params);
    const streamed = await anthropic.messages.stream(params).finalMessage();
    for (const m of [whole, streamed]) {
      expect(m.stop_reason).toBe('tool_use');
      const call = m.content.find((b) => b.type === 'tool_use');
      expect(call).toMatchObject({ name: 'answer', input: { verdict: 'approve', score: 3, notes: expect.any(String) } });
      expect(call!.id).toMatch(/^toolu_/);
    }
  });

  it('stops for length at max_tokens', async () => {
    const m = await anthropic.messages.create({ model: 'claude-sim', max_tokens: 3, messages: [{ role: 'user', content: 'long' }] });
    expect(m.stop_reason).toBe('max_tokens');
    expect(m.usage.output_tokens).toBeLessThanOrEqual(3);
  });
});

describe('openai SDK', () => {
  it('gets a text answer with usage', async () => {
    const c = await openai.chat.completions.create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'hello' }] });
    expect(c.choices[0]!.message.content).toEqual(expect.any(String));
    expect(c.choices[0]!.finish_reason).toBe('stop');
    expect(c.usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
    expect(c.usage!.total_tokens).toBe(c.usage!.prompt_tokens + c.usage!.completion_tokens);
  });

  it('streams chunks ending with a finish reason and a usage chunk', async () => {
    const stream = await openai.chat.completions.create({
      model: 'gpt-sim',
      messages: [{ role: 'user', content: 'stream it' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text.split(' ').length).toBeGreaterThan(3);
    expect(finish).toBe('stop');
    expect(usage!.completion_tokens).toBeGreaterThanOrEqual(12);
  });

  it('calls a forced function, streamed (arguments in pieces) or not', async () => {
    const params = {
      model: 'gpt-sim',
      messages: [{ role: 'user' as const, content: 'review' }],
      tools: [{ type: 'function' as const, function: { name: 'answer', parameters: schema } }],
      tool_choice: { type: 'function' as const, function: { name: 'answer' } },
    };
    const whole = await openai.chat.completions.create(params);
    expect(whole.choices[0]!.finish_reason).toBe('tool_calls');
    const call = whole.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toMatchObject({ verdict: 'approve', score: 3 });
    const runner = openai.chat.completions.stream(params);
    const done = await runner.finalChatCompletion();
    const streamed = done.choices[0]!.message.tool_calls![0]!;
    expect(streamed.type === 'function' && JSON.parse(streamed.function.arguments)).toMatchObject({ verdict: 'approve', score: 3 });
  });

  it('answers JSON that fits response_format’s schema, and a JSON object in JSON mode', async () => {
    const c = await openai.chat.completions.create({
      model: 'gpt-sim',
      messages: [{ role: 'user', content: 'review' }],
      response_format: { type: 'json_schema', json_schema: { name: 'review', schema } },
    });
    expect(JSON.parse(c.choices[0]!.message.content!)).toMatchObject({ verdict: 'approve', score: 3, notes: expect.any(String) });
    const j = await openai.chat.completions.create({
      model: 'gpt-sim',
      messages: [{ role: 'user', content: 'answer in JSON' }],
      response_format: { type: 'json_object' },
    });
    expect(JSON.parse(j.choices[0]!.message.content!)).toEqual({ answer: expect.any(String) });
  });

  it('answers a request the API would refuse with its 400, naming the field', async () => {
    const bad = openai.chat.completions.create({ model: 'gpt-sim', messages: [] });
    await expect(bad).rejects.toMatchObject({ status: 400, type: 'invalid_request_error', message: expect.stringContaining('messages') });
    const noMax = fetch(`${sim.url}/v1/messages`, {
      method: 'POST',
      body: JSON.stringify({ model: 'claude-sim', messages: [{ role: 'user', content: 'x' }] }),
    });
    const res = await noMax;
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens') } });
  });
});
