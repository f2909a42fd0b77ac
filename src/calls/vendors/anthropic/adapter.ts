/** Provider over the Anthropic Messages API (@anthropic-ai/sdk). */
import Anthropic from '@anthropic-ai/sdk';
import { classify } from '../../classify.js';
import { anthropicErrors } from './errors.js';
import { anthropicCapacity } from './rate-headers.js';
import {
  refusal,
  SDK_BACKSTOP_TIMEOUT_MS,
  type ChatMessage,
  type CompletionRequest,
  type CompletionResult,
  type Provider,
  type ToolChoice,
} from '../../provider.js';

export interface AnthropicProviderOptions {
  apiKey: string;
  /** Default https://api.anthropic.com. */
  baseURL?: string | undefined;
}

export class AnthropicProvider implements Provider {
  readonly name = 'anthropic' as const;
  private readonly client: Anthropic;

  constructor(options: AnthropicProviderOptions) {
    this.client = new Anthropic({
      apiKey: options.apiKey,
      // null stops the SDK from reading ANTHROPIC_BASE_URL: src/config owns the environment.
      baseURL: options.baseURL ?? null,
      // BullMQ owns retrying (attempts, backoff, rate-limit waits); an SDK retry would hide
      // failures from it and multiply the attempts.
      maxRetries: 0,
      timeout: SDK_BACKSTOP_TIMEOUT_MS,
    });
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const tools = req.tools?.map((t): Anthropic.Tool => ({
      name: t.name,
      description: t.description,
      input_schema: t.inputSchema as Anthropic.Tool.InputSchema,
    }));
    // Prompt caching: the prefix (tools, then system) ends at the last block marked; the system
    // prompt is last in that order, so it carries the mark, else the last tool does.
    const mark = req.promptCache ? { cache_control: { type: 'ephemeral' as const } } : undefined;
    if (mark && !req.system && tools?.length) tools[tools.length - 1] = { ...tools.at(-1)!, ...mark };
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: req.model,
      max_tokens: req.maxTokens,
      messages: toMessages(req.messages),
      ...(req.system ? { system: mark ? [{ type: 'text', text: req.system, ...mark }] : req.system } : {}),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      ...(tools?.length ? { tools, ...(req.toolChoice ? { tool_choice: toToolChoice(req.toolChoice) } : {}) } : {}),
    };
    try {
      let message: Anthropic.Message;
      let headers: Headers;
      if (req.onText) {
        // The SDK's stream helper assembles the final message (text, usage, stop reason).
        const stream = this.client.messages.stream(params, { signal: req.signal });
        stream.on('text', req.onText);
        headers = (await stream.withResponse()).response.headers;
        message = await stream.finalMessage();
      } else {
        const { data, response } = await this.client.messages.create(params, { signal: req.signal }).withResponse();
        message = data;
        headers = response.headers;
      }
      if (message.stop_reason === 'refusal') throw refusal('anthropic', 'stop reason "refusal"');
      const capacity = anthropicCapacity(headers);
      return { ...toResult(message), ...(capacity ? { capacity } : {}) };
    } catch (err) {
      throw classify(err, 'anthropic', anthropicErrors, req.signal);
    }
  }
}

/**
 * The conversation as Messages API turns: an assistant's tool calls become `tool_use` blocks,
 * tool results `tool_result` blocks of the next user turn; consecutive turns of one role are
 * merged (the API wants them alternating).
 */
function toMessages(messages: readonly ChatMessage[]): Anthropic.MessageParam[] {
  const out: { role: 'user' | 'assistant'; content: Anthropic.ContentBlockParam[] }[] = [];
  for (const m of messages) {
    const role = m.role === 'assistant' ? 'assistant' : 'user';
    const blocks: Anthropic.ContentBlockParam[] =
      m.role === 'tool'
        ? m.results.map((r) => ({ type: 'tool_result', tool_use_id: r.toolCallId, content: r.content, ...(r.isError ? { is_error: true } : {}) }))
        : [
            ...(m.content ? [{ type: 'text' as const, text: m.content }] : []),
            ...(m.role === 'assistant' ? (m.toolCalls ?? []).map((c) => ({ type: 'tool_use' as const, id: c.id, name: c.name, input: c.input ?? {} })) : []),
          ];
    const last = out.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  }
  // A turn of plain text goes as a string, as it always has.
  return out.map((m) => (m.content.length === 1 && m.content[0]!.type === 'text' ? { role: m.role, content: m.content[0].text } : m));
}

function toToolChoice(choice: ToolChoice): Anthropic.ToolChoice {
  if (typeof choice === 'object') return { type: 'tool', name: choice.name };
  return choice === 'required' ? { type: 'any' } : { type: choice };
}

function toResult(message: Anthropic.Message): CompletionResult {
  const text = message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
  const toolCalls = message.content.flatMap((block) => (block.type === 'tool_use' ? [{ id: block.id, name: block.name, input: block.input }] : []));
  const u = message.usage;
  return {
    text,
    ...(toolCalls.length ? { toolCalls } : {}),
    usage: {
      // Cached prompt tokens are still prompt tokens (input_tokens leaves them out): counted in
      // the input, and each kind apart, priced at its own rate.
      inputTokens: u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0),
      outputTokens: u.output_tokens,
      ...(u.cache_read_input_tokens ? { cacheReadTokens: u.cache_read_input_tokens } : {}),
      ...(u.cache_creation_input_tokens ? { cacheWriteTokens: u.cache_creation_input_tokens } : {}),
    },
    model: message.model,
    ...(message.stop_reason ? { stopReason: message.stop_reason } : {}),
  };
}
