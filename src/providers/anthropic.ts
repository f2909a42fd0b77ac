/** Provider over the Anthropic Messages API (@anthropic-ai/sdk). */
import Anthropic from '@anthropic-ai/sdk';
import { classifyProviderError } from './classify.js';
import { SDK_BACKSTOP_TIMEOUT_MS, type CompletionRequest, type CompletionResult, type Provider } from './provider.js';

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
    const params = {
      model: req.model,
      max_tokens: req.maxTokens,
      messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
      ...(req.system ? { system: req.system } : {}),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    };
    try {
      let message: Anthropic.Message;
      if (req.onText) {
        // The SDK's stream helper assembles the final message (text, usage, stop reason).
        const stream = this.client.messages.stream(params, { signal: req.signal });
        stream.on('text', req.onText);
        message = await stream.finalMessage();
      } else {
        message = await this.client.messages.create(params, { signal: req.signal });
      }
      return toResult(message);
    } catch (err) {
      throw classifyProviderError(err, 'anthropic', req.signal);
    }
  }
}

function toResult(message: Anthropic.Message): CompletionResult {
  const text = message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
  const u = message.usage;
  return {
    text,
    usage: {
      // Cached prompt tokens are still prompt tokens: count them for budgets and limits.
      inputTokens: u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0),
      outputTokens: u.output_tokens,
    },
    model: message.model,
    ...(message.stop_reason ? { stopReason: message.stop_reason } : {}),
  };
}
