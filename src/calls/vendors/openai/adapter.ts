/**
 * Provider over the OpenAI Chat Completions API (openai SDK). Works with any OpenAI-compatible
 * server through `baseURL` (Ollama, vLLM, Groq, OpenRouter, Gemini's compatible endpoint...),
 * whose departures from OpenAI's format compat.ts makes good.
 */
import OpenAI from 'openai';
import { RetryableError } from '../../../errors/index.js';
import { classify } from '../../classify.js';
import { openaiErrors } from './errors.js';
import { openaiCapacity } from './rate-headers.js';
import { answeredModel, StreamedCalls, stopReasonOf, usageOrEstimate, withCallIds } from './compat.js';
import {
  refusal,
  SDK_BACKSTOP_TIMEOUT_MS,
  type ChatMessage,
  type CompletionRequest,
  type CompletionResult,
  type Provider,
  type ToolCall,
  type ToolChoice,
} from '../../provider.js';

/** Sent when a self-hosted server needs no key: the SDK refuses to build a client without one. */
const PLACEHOLDER_API_KEY = 'switchyard-no-key';

export interface OpenAIProviderOptions {
  /** Optional when `baseURL` points at a server that needs no key. */
  apiKey?: string | undefined;
  /** Default https://api.openai.com/v1. */
  baseURL?: string | undefined;
  /** How structured answers are asked for (see the agent's `structured`). @default auto */
  structured?: StructuredMode | undefined;
}

export type StructuredMode = 'auto' | 'json_schema' | 'json_mode' | 'tool';

export class OpenAIProvider implements Provider {
  readonly name = 'openai' as const;
  private readonly client: OpenAI;
  /**
   * OpenAI's own API wants `max_completion_tokens` (its reasoning models reject `max_tokens`);
   * compatible servers widely understand only `max_tokens`.
   */
  private readonly officialApi: boolean;
  private readonly structured: StructuredMode;

  constructor(options: OpenAIProviderOptions) {
    this.officialApi = !options.baseURL || new URL(options.baseURL).hostname === 'api.openai.com';
    this.structured = options.structured ?? 'auto';
    this.client = new OpenAI({
      apiKey: options.apiKey ?? PLACEHOLDER_API_KEY,
      // Explicit values (null = none) stop the SDK from reading OPENAI_* variables itself:
      // src/config owns the environment.
      baseURL: options.baseURL ?? null,
      organization: null,
      project: null,
      adminAPIKey: null,
      // BullMQ owns retrying; see AnthropicProvider.
      maxRetries: 0,
      timeout: SDK_BACKSTOP_TIMEOUT_MS,
    });
  }

  /** Whether a structured answer of `model` is asked for with `response_format` (else a forced function). */
  answersWithSchema(model: string): boolean {
    return structuredMode(model, this.officialApi, this.structured) !== 'tool';
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const format = req.responseSchema
      ? responseFormat(structuredMode(req.model, this.officialApi, this.structured) === 'json_mode', req.responseSchema)
      : undefined;
    const system = [req.system, format?.instruction].filter(Boolean).join('\n\n');
    const params: OpenAI.ChatCompletionCreateParamsNonStreaming = {
      model: req.model,
      messages: [...(system ? [{ role: 'system' as const, content: system }] : []), ...req.messages.flatMap(toMessages)],
      ...(format ? { response_format: format.param } : {}),
      ...(this.officialApi ? { max_completion_tokens: req.maxTokens } : { max_tokens: req.maxTokens }),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      ...(req.tools?.length
        ? {
            tools: req.tools.map((t) => ({ type: 'function' as const, function: { name: t.name, description: t.description, parameters: t.inputSchema } })),
            ...(req.toolChoice ? { tool_choice: toToolChoice(req.toolChoice) } : {}),
          }
        : {}),
    };
    try {
      if (req.onText) return await this.stream(params, req);
      const { data: completion, response } = await this.client.chat.completions.create(params, { signal: req.signal }).withResponse();
      const capacity = openaiCapacity(response.headers);
      const choice = completion.choices[0];
      if (choice?.finish_reason === 'content_filter') throw refusal('openai', 'finish reason "content_filter"');
      if (choice?.message.refusal) throw refusal('openai', `refusal: ${choice.message.refusal.slice(0, 200)}`);
      const calls = (choice?.message.tool_calls ?? []).flatMap((c) =>
        c.type === 'function' ? [toolCall(c.id, c.function.name, c.function.arguments, (c as { extra_content?: unknown }).extra_content)] : [],
      );
      const toolCalls = withCallIds(calls, req.messages);
      const text = choice?.message.content ?? '';
      return {
        text,
        ...(toolCalls.length ? { toolCalls } : {}),
        usage: usageOrEstimate(completion.usage, req, { text, toolCalls }),
        model: answeredModel(completion.model, req.model),
        ...(choice?.finish_reason ? { stopReason: stopReasonOf(choice.finish_reason, toolCalls.length > 0) } : {}),
        ...(capacity ? { capacity } : {}),
      };
    } catch (err) {
      throw classify(err, 'openai', openaiErrors, req.signal);
    }
  }

  /**
   * Streams the first choice; usage comes in a last chunk (`include_usage`) when the server
   * sends it. Tool calls arrive in pieces (compat.ts puts them together).
   */
  private async stream(params: OpenAI.ChatCompletionCreateParamsNonStreaming, req: CompletionRequest): Promise<CompletionResult> {
    const { signal } = req;
    const onText = req.onText!;
    const { data: stream, response } = await this.client.chat.completions
      .create({ ...params, stream: true, stream_options: { include_usage: true } }, { signal })
      .withResponse();
    const capacity = openaiCapacity(response.headers);
    let text = '';
    let answeredBy = '';
    let stopReason: string | undefined;
    let usage: OpenAI.CompletionUsage | undefined;
    const pieces = new StreamedCalls();
    for await (const chunk of stream) {
      answeredBy ||= chunk.model;
      if (chunk.usage) usage = chunk.usage;
      // Some compatible servers leave `choices` out of the usage chunk.
      const choice = chunk.choices?.find((c) => c.index === 0);
      if (!choice) continue;
      const delta = choice.delta?.content;
      if (delta) {
        text += delta;
        onText(delta);
      }
      for (const part of choice.delta?.tool_calls ?? []) pieces.add(part);
      if (choice.finish_reason) stopReason = choice.finish_reason;
    }
    // The SDK ends the iteration quietly when the request is aborted, and so may a server that
    // drops the connection: neither is an answer.
    if (signal.aborted) throw classify(signal.reason, 'openai', openaiErrors, signal);
    if (!stopReason) throw new RetryableError(`openai stream ended before the answer was complete (${text.length} characters received)`);
    if (stopReason === 'content_filter') throw refusal('openai', 'finish reason "content_filter"');
    const toolCalls = withCallIds(
      pieces.all.map((c) => toolCall(c.id, c.name, c.args, c.extra)),
      req.messages,
    );
    return {
      text,
      usage: usageOrEstimate(usage, req, { text, toolCalls }),
      model: answeredModel(answeredBy, req.model),
      stopReason: stopReasonOf(stopReason, toolCalls.length > 0),
      ...(toolCalls.length ? { toolCalls } : {}),
      ...(capacity ? { capacity } : {}),
    };
  }
}

/** Models older than JSON mode (response_format json_object): a forced function call. */
const BEFORE_JSON_MODE = /^(gpt-4(-0314|-0613|-32k.*)?|gpt-3\.5-turbo-(0301|0613|16k-0613))$/;
/** Models with JSON mode but older than `json_schema` structured outputs. */
const JSON_MODE_ONLY = /^(gpt-4-turbo.*|gpt-4-(1106|0125)-preview|gpt-4-vision-preview|gpt-3\.5-turbo(-1106|-0125|-16k)?|gpt-4o-2024-05-13)$/;

/**
 * How a structured answer of `model` is asked for. `auto`: on OpenAI's own API by the model's
 * age; on any other server a forced function call (compatible servers widely support tools,
 * far fewer response_format json_schema).
 */
export function structuredMode(model: string, officialApi: boolean, setting: StructuredMode = 'auto'): Exclude<StructuredMode, 'auto'> {
  if (setting !== 'auto') return setting;
  if (!officialApi || BEFORE_JSON_MODE.test(model)) return 'tool';
  return JSON_MODE_ONLY.test(model) ? 'json_mode' : 'json_schema';
}

/**
 * The `response_format` of a structured answer: `json_schema` (not `strict`, which accepts only
 * a subset of JSON Schema; the answer is validated here anyway), or JSON mode, which needs the
 * word JSON in the messages: an instruction carries the schema.
 */
export function responseFormat(
  jsonMode: boolean,
  rs: NonNullable<CompletionRequest['responseSchema']>,
): { param: OpenAI.ChatCompletionCreateParams['response_format']; instruction?: string } {
  if (jsonMode) {
    return {
      param: { type: 'json_object' },
      instruction: `${rs.description ? `${rs.description}\n` : ''}Answer with a JSON object only, fitting this JSON Schema:\n${JSON.stringify(rs.schema)}`,
    };
  }
  return {
    param: {
      type: 'json_schema',
      json_schema: { name: rs.name, ...(rs.description ? { description: rs.description } : {}), schema: rs.schema, strict: false },
    },
  };
}

/** One message of the conversation as Chat Completions messages (tool results: one message each). */
function toMessages(m: ChatMessage): OpenAI.ChatCompletionMessageParam[] {
  switch (m.role) {
    case 'user':
      return [{ role: 'user', content: m.content }];
    case 'assistant':
      return [
        {
          role: 'assistant',
          content: m.content || null,
          ...(m.toolCalls?.length
            ? {
                tool_calls: m.toolCalls.map((c) => ({
                  id: c.id,
                  type: 'function' as const,
                  function: { name: c.name, arguments: c.invalidInput ?? JSON.stringify(c.input ?? {}) },
                  // Not in the SDK's types: what the server gave with the call goes back with it (compat.ts).
                  ...(c.extra ? { extra_content: c.extra } : {}),
                })),
              }
            : {}),
        },
      ];
    case 'tool':
      // The API has no error flag on a tool result: the text says so.
      return m.results.map((r) => ({ role: 'tool', tool_call_id: r.toolCallId, content: r.isError ? `Error: ${r.content}` : r.content }));
  }
}

function toToolChoice(choice: ToolChoice): OpenAI.ChatCompletionToolChoiceOption {
  return typeof choice === 'object' ? { type: 'function', function: { name: choice.name } } : choice;
}

/** A call with its arguments parsed; arguments that are not a JSON value are kept as sent. */
function toolCall(id: string, name: string, args: string, extra?: unknown): ToolCall {
  const kept = isRecord(extra) ? { extra } : {};
  try {
    return { id, name, input: args.trim() ? JSON.parse(args) : {}, ...kept };
  } catch {
    return { id, name, input: null, invalidInput: args, ...kept };
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
