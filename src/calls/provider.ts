/**
 * The one seam between a step and an LLM backend. A provider completes a request under an
 * AbortSignal and returns text, token usage and the model that answered. It throws only the
 * classified errors of src/errors (see classify.ts), never an SDK error.
 */
import type { CapacityHeaders } from './rate-headers.js';
import type { ProviderName } from '../model/agent.js';
import { NonRetryableError } from '../errors/index.js';

/** The SDK's own timeout is only a backstop: the step's AbortSignal enforces `timeoutMs`. */
export const SDK_BACKSTOP_TIMEOUT_MS = 30 * 60_000;

/** A tool the model may call: its name, what it does, and its input as a JSON Schema object. */
export interface ToolDefinition {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/** One tool call of an answer. An answer may ask for several at once: all are kept, in order. */
export interface ToolCall {
  /** The provider's id of the call, which its result must name. */
  id: string;
  name: string;
  /** The parsed arguments (an object for any well-formed call). */
  input: unknown;
  /** The arguments as sent, when they were not valid JSON (`input` is then null). */
  invalidInput?: string;
  /**
   * What the provider sent with the call for it to be sent back with it, kept as it came: Gemini
   * 3's thought signature (`extra_content` on its OpenAI-compatible endpoint), without which its
   * next turn is refused.
   */
  extra?: Record<string, unknown>;
}

/** The result of one tool call, given back to the model. */
export interface ToolResult {
  toolCallId: string;
  content: string;
  /** The call failed (a bad argument, a failed delegate): the model decides what to do. */
  isError?: boolean;
}

/** A conversation, provider-neutral; each provider maps it onto its own message shapes. */
export type ChatMessage =
  | { role: 'user'; content: string }
  /** A model's answer: its text and the tools it asked for. */
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  /** The results of the tool calls of the assistant message before it. */
  | { role: 'tool'; results: ToolResult[] };

export type UserMessage = Extract<ChatMessage, { role: 'user' }>;

/** auto: the model decides; none: it may not call tools; required: it must call one; {name}: that one. */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

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
  /** The most the call may take (its step's timeout, after which `signal` fires); a concurrency lease lives this long. */
  timeoutMs?: number;
  /**
   * Names this call the same way each time its step comes back to it (run, step, attempt, nth
   * call): a call told to wait for its turn keeps that turn (see admission/limits-gate.ts).
   */
  callKey?: string;
  /**
   * The run, step and attempt the call is made for: the turns it books and the leases it takes
   * in the shared limiter, and its budget reservation, are released when that attempt is
   * recovered or the run ends.
   */
  holder?: CallHolder;
  /** Tools the model may call (none when absent or empty). */
  tools?: ToolDefinition[];
  /** Default auto. */
  toolChoice?: ToolChoice;
  /**
   * Ask for an answer that is a JSON object fitting `schema`, in the API's own JSON mode (only
   * to a provider whose `answersWithSchema` says it can; the others are given a forced tool).
   */
  responseSchema?: ResponseSchema;
  /**
   * Mark the stable prefix (system prompt and tools) for the provider's prompt cache (Anthropic's
   * `cache_control`), set by the pipeline from the agent's `promptCache` (prompt-cache.ts).
   */
  promptCache?: boolean;
  /**
   * When set, the provider streams the answer and calls this with each piece of text as it
   * arrives (in order; the pieces joined are the final text). It must not throw.
   */
  onText?: (delta: string) => void;
}

/** The attempt of a run's step that makes a call. */
export interface CallHolder {
  runId: string;
  /** The run's workspace (its holds are kept under the run's keys). */
  workspaceId: string;
  /** The run's cell's tag (where its keys are; the shared limiter's may be in another slot). */
  tag: string;
  stepId: string;
  attempt: number;
  /** Its run has a token or cost budget, or a spend envelope holds it: the call is reserved first (admission/budget-gate.ts). */
  budgeted?: boolean | undefined;
  /** The API key that submitted the run (its envelope holds the call too); none: its workspace's envelope only. */
  keyId?: string | undefined;
}

/** A structured answer asked for: the JSON object it must be, named (and described) for the model. */
export interface ResponseSchema {
  name: string;
  description?: string;
  schema: Record<string, unknown>;
}

/** What a structured answer's tool (or schema) tells the model, unless the caller says more. */
export const ANSWER_DESCRIPTION = 'Give your answer, in exactly this structure.';

/**
 * How a structured answer is asked of `provider` for `model`: in the API's own JSON mode where
 * it has one (`answersWithSchema`), else as a forced tool of the same name.
 */
export function askForStructure(
  provider: Pick<Provider, 'answersWithSchema'>,
  model: string,
  rs: ResponseSchema,
): Pick<CompletionRequest, 'responseSchema' | 'tools' | 'toolChoice'> {
  if (provider.answersWithSchema?.(model)) return { responseSchema: rs };
  return { tools: [{ name: rs.name, description: rs.description ?? ANSWER_DESCRIPTION, inputSchema: rs.schema }], toolChoice: { name: rs.name } };
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /** The answer reported no usage (some OpenAI-compatible servers): these are estimates (token-estimate.ts). */
  estimated?: boolean;
  /** Of `inputTokens`, read from the provider's prompt cache (priced at its cache read rate). */
  cacheReadTokens?: number;
  /** Of `inputTokens`, written to the provider's prompt cache (Anthropic: priced at 1.25 × input). */
  cacheWriteTokens?: number;
}

export interface CompletionResult {
  text: string;
  usage: TokenUsage;
  /** Model that actually answered (as reported by the provider). */
  model: string;
  stopReason?: string;
  /** The tools the answer asks for, all of them in order (absent or empty: a final answer). */
  toolCalls?: ToolCall[];
  /** What the answer's rate-limit headers say of the remaining capacity, when it sent them. */
  capacity?: CapacityHeaders;
  /**
   * The answer came from the response cache (response-cache.ts), no provider call made: its
   * usage is none, and `costSavedUsd` what the call cost when it was answered.
   */
  cached?: { costSavedUsd?: number };
}

/** The provider declined to answer (a content filter or a refusal): not retried, retrying cannot help. */
export const refusal = (provider: string, why: string): Error =>
  new NonRetryableError(`${provider} refused to answer (${why}); not retried: the same request would be refused again`);

export interface Provider {
  readonly name: ProviderName;
  complete(req: CompletionRequest): Promise<CompletionResult>;
  /** Whether a structured answer is asked for with `responseSchema` (the API's JSON mode) rather than a forced tool. */
  answersWithSchema?(model: string): boolean;
}

/**
 * A provider in front of another one (admission, fallbacks, the meter): the same name and the same
 * way of asking for a structured answer; `complete` does its part around the inner call.
 */
export abstract class ProviderDecorator implements Provider {
  readonly name: ProviderName;
  readonly answersWithSchema?: (model: string) => boolean;

  constructor(protected readonly inner: Provider) {
    this.name = inner.name;
    if (inner.answersWithSchema) this.answersWithSchema = inner.answersWithSchema.bind(inner);
  }

  abstract complete(req: CompletionRequest): Promise<CompletionResult>;
}
