/**
 * Offline, deterministic provider: answers `[<agent>] <last user message>` after `latencyMs`.
 * Used for demos, tests, and agents whose provider has no API key. It honours the AbortSignal
 * exactly like a real provider, so timeouts and cancellation behave the same offline.
 *
 * Offered tools, it calls one (the one forced by `toolChoice`, else the first) with arguments
 * that fit its schema (src/lang/schema-sample.ts), unless the conversation ends with tool results or
 * tools are not allowed; then it answers, the results appended one per line.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { classify } from '../../classify.js';
import type { ChatMessage, CompletionRequest, CompletionResult, Provider, ToolCall } from '../../provider.js';
import { sampleFor } from '../../../lang/schema-sample.js';

export interface EchoProviderOptions {
  /** Simulated answer time in ms. Default 0. */
  latencyMs?: number;
}

export class EchoProvider implements Provider {
  readonly name = 'echo' as const;
  private readonly latencyMs: number;

  constructor(options: EchoProviderOptions = {}) {
    this.latencyMs = options.latencyMs ?? 0;
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const lastUser = req.messages.findLast((m) => m.role === 'user')?.content ?? '';
    const toolCalls = echoToolCalls(req, lastUser);
    const last = req.messages.at(-1);
    const results = last?.role === 'tool' ? last.results.map((r) => `\n${r.isError ? 'error: ' : ''}${r.content}`).join('') : '';
    const text = toolCalls ? '' : `[${req.agent}] ${lastUser}${results}`;
    if (req.onText) {
      // Streamed: the answer arrives in pieces spread evenly over the latency.
      const pieces = splitText(text, STREAM_PIECES);
      for (const piece of pieces) {
        await sleep(this.latencyMs / pieces.length, req.signal);
        req.onText(piece);
      }
    } else {
      await sleep(this.latencyMs, req.signal);
    }
    const promptChars = (req.system ?? '').length + req.messages.reduce((n, m) => n + messageChars(m), 0);
    const answerChars = text.length + (toolCalls ? JSON.stringify(toolCalls).length : 0);
    return {
      text,
      // Roughly four characters per token, like the real tokenizers on English text.
      usage: { inputTokens: Math.ceil(promptChars / 4), outputTokens: Math.ceil(answerChars / 4) },
      model: 'echo',
      stopReason: toolCalls ? 'tool_use' : 'end_turn',
      ...(toolCalls ? { toolCalls } : {}),
    };
  }
}

/** The tool call echo makes, if it makes one (see the module header). */
function echoToolCalls(req: CompletionRequest, lastUser: string): ToolCall[] | undefined {
  const choice = req.toolChoice ?? 'auto';
  if (!req.tools?.length || choice === 'none') return undefined;
  const forced = typeof choice === 'object' ? req.tools.find((t) => t.name === choice.name) : undefined;
  if (!forced && req.messages.at(-1)?.role === 'tool') return undefined;
  const tool = forced ?? req.tools[0]!;
  const turn = req.messages.filter((m) => m.role === 'assistant').length + 1;
  return [{ id: `echo_${turn}_1`, name: tool.name, input: sampleFor(tool.inputSchema, lastUser) }];
}

function messageChars(m: ChatMessage): number {
  if (m.role === 'tool') return m.results.reduce((n, r) => n + r.content.length, 0);
  return m.content.length + (m.role === 'assistant' && m.toolCalls ? JSON.stringify(m.toolCalls).length : 0);
}

/** How many pieces a streamed echo answer arrives in (fewer when the text is shorter). */
const STREAM_PIECES = 8;

/** `text` cut into at most `n` consecutive pieces of about equal length (one empty piece for ''). */
function splitText(text: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / n));
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces.length ? pieces : [''];
}

/** Resolves after `ms`, or rejects with the classified abort reason as soon as `signal` fires. */
async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  try {
    // No timer for 0 ms: setTimeout(0) costs a millisecond and a trip round the event loop.
    if (ms > 0) await delay(ms, undefined, { signal });
    else signal.throwIfAborted();
  } catch (err) {
    throw classify(err, 'echo', undefined, signal);
  }
}
