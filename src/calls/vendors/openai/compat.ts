/**
 * What the OpenAI adapter makes good of compatible servers that bend OpenAI's format (Gemini's
 * and Ollama's endpoints among them: docs/providers.md lists what each does):
 *
 * - a tool call with no id, an empty one, or one already used (in the answer or earlier in the
 *   conversation) gets one made here, the same for the same request (`withCallIds`): a result is
 *   matched to its call by id, and a delegation to its step;
 * - streamed tool-call pieces without an `index`, or with one index for several calls, are put
 *   together call by call (`StreamedCalls`);
 * - an answer without `usage` has its tokens estimated (token-estimate.ts) and says so
 *   (`estimated`), so that budgets and limits still count it;
 * - a model named `models/<name>` (Gemini) is `<name>`, which prices it;
 * - what a call comes with for it to be sent back (`extra_content`: Gemini 3's thought
 *   signature) is kept on the call (`ToolCall.extra`) and sent back with it.
 */
import type OpenAI from 'openai';
import { countTokens, estimateInputTokens } from '../../token-estimate.js';
import type { ChatMessage, CompletionRequest, TokenUsage, ToolCall } from '../../provider.js';

/** Tool calls with an id each, unique in the conversation: a missing, empty or repeated one is made from the turn and the call's place. */
export function withCallIds(calls: ToolCall[], messages: readonly ChatMessage[]): ToolCall[] {
  const used = new Set(messages.flatMap((m) => (m.role === 'assistant' ? (m.toolCalls ?? []).map((c) => c.id) : [])));
  return calls.map((c, i) => {
    let id = c.id;
    if (!id || used.has(id)) {
      id = `call_sy${messages.length}_${i}`;
      while (used.has(id)) id += '_';
    }
    used.add(id);
    return id === c.id ? c : { ...c, id };
  });
}

/** One piece of a streamed tool call, as compatible servers send it (`index` may be missing). */
type Piece = { index?: number | null; id?: string | null; function?: { name?: string | null; arguments?: string | null } | null; extra_content?: unknown };
type Assembled = { id: string; name: string; args: string; extra?: unknown };

/**
 * The tool calls of a stream, from their pieces. OpenAI names the call a piece continues by
 * `index`; a piece without one continues the last call, unless it begins another (a new id, or a
 * name once the last call has arguments: Gemini and Ollama send each call whole in one piece).
 * A piece whose index is taken by a call of another id begins a new call too.
 */
export class StreamedCalls {
  private readonly calls: Assembled[] = [];
  private readonly byIndex = new Map<number, Assembled>();

  add(piece: Piece): void {
    const index = typeof piece.index === 'number' ? piece.index : undefined;
    const slot = index === undefined ? this.calls.at(-1) : this.byIndex.get(index);
    const otherId = Boolean(piece.id && slot?.id && piece.id !== slot.id);
    const begins = !slot || otherId || (index === undefined && Boolean(piece.function?.name) && slot.name !== '' && slot.args !== '');
    let call = slot;
    if (begins || !call) {
      call = { id: '', name: '', args: '' };
      this.calls.push(call);
      if (index !== undefined) this.byIndex.set(index, call);
    }
    if (piece.id) call.id = piece.id;
    if (piece.function?.name) call.name += piece.function.name;
    if (piece.function?.arguments) call.args += piece.function.arguments;
    if (piece.extra_content !== undefined && piece.extra_content !== null) call.extra = piece.extra_content;
  }

  get all(): readonly Assembled[] {
    return this.calls;
  }
}

/**
 * The usage an answer reports, or, when it reports none, an estimate: the request's input tokens
 * as admission estimated them, and the answer's text and tool calls counted for the model.
 */
export function usageOrEstimate(
  usage: OpenAI.CompletionUsage | null | undefined,
  req: CompletionRequest,
  answer: { text: string; toolCalls: readonly ToolCall[] },
): TokenUsage {
  if (usage) {
    // OpenAI caches long prompts by itself: the cached part is in prompt_tokens, and said apart.
    const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
    return { inputTokens: usage.prompt_tokens ?? 0, outputTokens: usage.completion_tokens ?? 0, ...(cached > 0 ? { cacheReadTokens: cached } : {}) };
  }
  const calls = answer.toolCalls.map((c) => `${c.name} ${c.invalidInput ?? JSON.stringify(c.input)}`).join('\n');
  return { inputTokens: estimateInputTokens(req), outputTokens: countTokens(`${answer.text}${calls}`, req.model), estimated: true };
}

/** The model an answer names, as priced (Gemini's `models/` in front left out); the one asked for when it names none. */
export const answeredModel = (reported: string | undefined, asked: string): string => (reported ? reported.replace(/^models\//, '') : asked);

/** A stream that ends with tool calls ends for them, whatever its finish reason (Gemini says `stop`). */
export const stopReasonOf = (reason: string, hasCalls: boolean): string => (hasCalls && reason === 'stop' ? 'tool_calls' : reason);
