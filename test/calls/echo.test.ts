/** The offline echo provider and the prompt builder shared by every provider. */
import { describe, expect, it } from 'vitest';
import { CancelledError, StepTimeoutError } from '../../src/errors/index.js';
import { EchoProvider } from '../../src/calls/vendors/echo/adapter.js';
import { buildMessages } from '../../src/calls/prompt.js';
import type { CompletionRequest } from '../../src/calls/provider.js';

const request = (signal: AbortSignal = new AbortController().signal): CompletionRequest => ({
  agent: 'research',
  model: 'echo',
  messages: buildMessages({ task: 'Compare queues' }),
  maxTokens: 100,
  signal,
});

describe('echo provider', () => {
  it('names the agent and repeats the task, the same way every time', async () => {
    const echo = new EchoProvider();
    const first = await echo.complete(request());
    expect(first).toEqual({
      text: '[research] Compare queues',
      usage: { inputTokens: Math.ceil('Compare queues'.length / 4), outputTokens: Math.ceil('[research] Compare queues'.length / 4) },
      model: 'echo',
      stopReason: 'end_turn',
    });
    expect(await echo.complete(request())).toEqual(first);
  });

  it('streams the same answer in pieces spread over latencyMs when asked to', async () => {
    const pieces: { text: string; at: number }[] = [];
    const started = Date.now();
    const result = await new EchoProvider({ latencyMs: 160 }).complete({ ...request(), onText: (text) => pieces.push({ text, at: Date.now() }) });
    expect(result).toEqual(await new EchoProvider().complete(request()));
    expect(pieces.map((p) => p.text).join('')).toBe(result.text);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces[0]!.at - started).toBeLessThan(120);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('takes about latencyMs to answer', async () => {
    const started = Date.now();
    await new EchoProvider({ latencyMs: 80 }).complete(request());
    expect(Date.now() - started).toBeGreaterThanOrEqual(70);
  });

  it('stops waiting as soon as the step times out, with the timeout as the error', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new StepTimeoutError(30)), 30);
    await expect(new EchoProvider({ latencyMs: 5000 }).complete(request(controller.signal))).rejects.toBeInstanceOf(StepTimeoutError);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rejects a call whose signal has already fired with CancelledError when the reason is not ours', async () => {
    await expect(new EchoProvider({ latencyMs: 10 }).complete(request(AbortSignal.abort()))).rejects.toBeInstanceOf(CancelledError);
  });
});

describe('buildMessages', () => {
  it('sends the task alone as one user message', () => {
    expect(buildMessages({ task: 'Write a haiku' })).toEqual([{ role: 'user', content: 'Write a haiku' }]);
  });

  it('appends the context as pretty JSON after a blank line', () => {
    const [message] = buildMessages({ task: 'Summarise', context: { findings: ['a', 'b'] } });
    expect(message?.content).toBe(`Summarise\n\nContext:\n${JSON.stringify({ findings: ['a', 'b'] }, null, 2)}`);
  });
});
