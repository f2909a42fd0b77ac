/**
 * Prompt caching of an agent's stable prefix (its system prompt and tools), by its
 * `promptCache`: `on` marks every Anthropic request's prefix for the cache (`cache_control`,
 * set by the Anthropic adapter from `CompletionRequest.promptCache`), `auto` (the default) when
 * the prefix is at least the model's minimum cacheable length (a shorter one is not cached by
 * Anthropic, and a mark would change nothing), `off` never. OpenAI caches prompts of 1024 tokens
 * or more by itself, unasked: nothing is marked, and what it read is counted all the same.
 *
 * A marked request is reserved (admission) as writing its prefix to the cache, the dearest case;
 * its answer's usage says what was read and written, priced at the cache rates (pricing.ts).
 */
import type { AgentSpec } from '../model/agent.js';
import { ProviderDecorator, type CompletionRequest, type CompletionResult, type Provider } from './provider.js';
import { estimatePrefixTokens, keepsEstimate } from './token-estimate.js';

/** The fewest prefix tokens a model caches (Anthropic: 2048 for its Haiku models, 1024 for the others). */
export function minimumCacheable(model: string): number {
  return /haiku/.test(model) ? 2048 : 1024;
}

/** Whether `req`'s prefix is marked for the prompt cache under `setting`. */
export function marksPrefix(setting: AgentSpec['promptCache'], req: CompletionRequest): boolean {
  if (setting === 'off' || (!req.system && !req.tools?.length)) return false;
  return setting === 'on' || estimatePrefixTokens(req) >= minimumCacheable(req.model);
}

/** An Anthropic agent's provider whose requests mark their prefix for the prompt cache as `setting` says. */
export class PromptCacheProvider extends ProviderDecorator {
  constructor(
    inner: Provider,
    private readonly setting: AgentSpec['promptCache'],
  ) {
    super(inner);
  }

  complete(req: CompletionRequest): Promise<CompletionResult> {
    if (!marksPrefix(this.setting, req)) return this.inner.complete(req);
    const marked = { ...req, promptCache: true };
    keepsEstimate(req, marked);
    return this.inner.complete(marked);
  }
}
