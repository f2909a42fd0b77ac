/**
 * Provider over the OpenAI Chat Completions API (openai SDK). Works with any OpenAI-compatible
 * server through `baseURL` (Ollama, vLLM, Groq, OpenRouter, Gemini's compatible endpoint...).
 */
import OpenAI from 'openai';
import { RetryableError } from '../errors/index.js';
import { classifyProviderError } from './classify.js';
import { SDK_BACKSTOP_TIMEOUT_MS, type CompletionRequest, type CompletionResult, type Provider } from './provider.js';

/** Sent when a self-hosted server needs no key: the SDK refuses to build a client without one. */
const PLACEHOLDER_API_KEY = 'switchyard-no-key';

export interface OpenAIProviderOptions {
  /** Optional when `baseURL` points at a server that needs no key. */
  apiKey?: string | undefined;
  /** Default https://api.openai.com/v1. */
  baseURL?: string | undefined;
}

export class OpenAIProvider implements Provider {
  readonly name = 'openai' as const;
  private readonly client: OpenAI;
  /**
   * OpenAI's own API wants `max_completion_tokens` (its reasoning models reject `max_tokens`);
   * compatible servers widely understand only `max_tokens`.
   */
  private readonly officialApi: boolean;

  constructor(options: OpenAIProviderOptions) {
    this.officialApi = !options.baseURL || new URL(options.baseURL).hostname === 'api.openai.com';
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

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const params = {
      model: req.model,
      messages: [
        ...(req.system ? [{ role: 'system' as const, content: req.system }] : []),
        ...req.messages.map((m) => ({ role: m.role, content: m.content })),
      ],
      ...(this.officialApi ? { max_completion_tokens: req.maxTokens } : { max_tokens: req.maxTokens }),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    };
    try {
      if (req.onText) return await this.stream(params, req.onText, req.model, req.signal);
      const completion = await this.client.chat.completions.create(params, { signal: req.signal });
      const choice = completion.choices[0];
      return {
        text: choice?.message.content ?? '',
        usage: usageOf(completion.usage),
        model: completion.model || req.model,
        ...(choice?.finish_reason ? { stopReason: choice.finish_reason } : {}),
      };
    } catch (err) {
      throw classifyProviderError(err, 'openai', req.signal);
    }
  }

  /** Streams the first choice; usage comes in a last chunk (`include_usage`) when the server sends it. */
  private async stream(params: OpenAI.ChatCompletionCreateParamsNonStreaming, onText: (delta: string) => void, model: string, signal: AbortSignal): Promise<CompletionResult> {
    const stream = await this.client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } }, { signal });
    let text = '';
    let answeredBy = '';
    let stopReason: string | undefined;
    let usage: OpenAI.CompletionUsage | undefined;
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
      if (choice.finish_reason) stopReason = choice.finish_reason;
    }
    // The SDK ends the iteration quietly when the request is aborted, and so may a server that
    // drops the connection: neither is an answer.
    if (signal.aborted) throw classifyProviderError(signal.reason, 'openai', signal);
    if (!stopReason) throw new RetryableError(`openai stream ended before the answer was complete (${text.length} characters received)`);
    return { text, usage: usageOf(usage), model: answeredBy || model, stopReason };
  }
}

/** Some compatible servers omit usage; zero is better than failing a good answer. */
const usageOf = (u: OpenAI.CompletionUsage | null | undefined) => ({ inputTokens: u?.prompt_tokens ?? 0, outputTokens: u?.completion_tokens ?? 0 });
