/**
 * The one seam between a step and an LLM backend. A provider completes a request under an
 * AbortSignal and returns text, token usage and the model that answered. It throws only the
 * classified errors of src/errors (see classify.ts), never an SDK error.
 */
import type { ProviderName } from '../agents/agent-spec.js';

/** The SDK's own timeout is only a backstop: the step's AbortSignal enforces `timeoutMs`. */
export const SDK_BACKSTOP_TIMEOUT_MS = 30 * 60_000;

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface CompletionRequest {
  /** Agent type name (echo names it in its answer; logs). */
  agent: string;
  model: string;
  system?: string;
  messages: ChatMessage[];
  temperature?: number;
  maxTokens: number;
  /** Fires on timeout, cancellation or shutdown; the HTTP call must be aborted. */
  signal: AbortSignal;
  /**
   * When set, the provider streams the answer and calls this with each piece of text as it
   * arrives (in order; the pieces joined are the final text). It must not throw.
   */
  onText?: (delta: string) => void;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface CompletionResult {
  text: string;
  usage: TokenUsage;
  /** Model that actually answered (as reported by the provider). */
  model: string;
  stopReason?: string;
}

export interface Provider {
  readonly name: ProviderName;
  complete(req: CompletionRequest): Promise<CompletionResult>;
}
