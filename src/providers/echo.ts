/**
 * Offline, deterministic provider: answers `[<agent>] <last user message>` after `latencyMs`.
 * Used for demos, tests, and agents whose provider has no API key. It honours the AbortSignal
 * exactly like a real provider, so timeouts and cancellation behave the same offline.
 */
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
    await sleep(this.latencyMs, req.signal);
    const lastUser = req.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
    const text = `[${req.agent}] ${lastUser}`;
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

/** Resolves after `ms`, or rejects with the classified abort reason as soon as `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(classifyProviderError(signal.reason, 'echo', signal));
    // No timer for 0 ms: setTimeout(0) costs a millisecond and a trip round the event loop.
    if (ms <= 0) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      reject(classifyProviderError(signal.reason, 'echo', signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
