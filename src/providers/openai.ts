/**
 * Provider over the OpenAI Chat Completions API (openai SDK). Works with any OpenAI-compatible
 * server through `baseURL` (Ollama, vLLM, Groq, OpenRouter, Gemini's compatible endpoint...).
 */
import OpenAI from 'openai';
import { SDK_BACKSTOP_TIMEOUT_MS } from './anthropic.js';
import { classifyProviderError } from './classify.js';
import type { CompletionRequest, CompletionResult, Provider } from './provider.js';

/** Sent when a self-hosted server needs no key: the SDK refuses to build a client without one. */
const PLACEHOLDER_API_KEY = 'switchyard-no-key';

export interface OpenAIProviderOptions {
  /** Optional when `baseURL` points at a server that needs no key. */
  apiKey?: string | undefined;
  /** Default https://api.openai.com/v1. */
  baseURL?: string | undefined;
  /** SDK-level timeout in ms. Default SDK_BACKSTOP_TIMEOUT_MS (30 minutes). */
  timeoutMs?: number | undefined;
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
      timeout: options.timeoutMs ?? SDK_BACKSTOP_TIMEOUT_MS,
    });
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    try {
      const completion = await this.client.chat.completions.create(
        {
          model: req.model,
          messages: [
            ...(req.system ? [{ role: 'system' as const, content: req.system }] : []),
            ...req.messages.map((m) => ({ role: m.role, content: m.content })),
          ],
          ...(this.officialApi ? { max_completion_tokens: req.maxTokens } : { max_tokens: req.maxTokens }),
          ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
        },
        { signal: req.signal },
      );
      const choice = completion.choices[0];
      return {
        text: choice?.message.content ?? '',
        // Some compatible servers omit usage; zero is better than failing a good answer.
        usage: { inputTokens: completion.usage?.prompt_tokens ?? 0, outputTokens: completion.usage?.completion_tokens ?? 0 },
        model: completion.model || req.model,
        ...(choice?.finish_reason ? { stopReason: choice.finish_reason } : {}),
      };
    } catch (err) {
      throw classifyProviderError(err, 'openai', req.signal);
    }
  }
}
