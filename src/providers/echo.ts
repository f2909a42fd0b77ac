/**
 * Offline, deterministic provider: answers `[<agent>] <last user message>` after `latencyMs`.
 * Used for demos, tests, and agents whose provider has no API key. It honours the AbortSignal
 * exactly like a real provider, so timeouts and cancellation behave the same offline.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { classifyProviderError } from './classify.js';
import type { CompletionRequest, CompletionResult, Provider } from './provider.js';

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
    const lastUser = req.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
    const text = `[${req.agent}] ${lastUser}`;
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
    const promptChars = (req.system ?? '').length + req.messages.reduce((n, m) => n + m.content.length, 0);
    return {
      text,
      // Roughly four characters per token, like the real tokenizers on English text.
      usage: { inputTokens: Math.ceil(promptChars / 4), outputTokens: Math.ceil(text.length / 4) },
      model: 'echo',
      stopReason: 'end_turn',
    };
  }
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
    throw classifyProviderError(err, 'echo', signal);
  }
}
