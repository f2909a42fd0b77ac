/**
 * The response cache (an agent's `cache: {ttlSeconds, force?}`): the same request within the
 * TTL is answered from Redis, per workspace, without a provider call. "The same" is the SHA-256
 * of a canonical JSON (keys sorted) of what decides the answer: the provider, the model, the
 * system prompt, the messages, the tools and tool choice, the answer's schema, the temperature
 * and max tokens. A request at a temperature above 0 (unset counts as the providers' default,
 * 1) is never cached unless `force`: its answers vary.
 *
 * It sits first in the pipeline (pipeline.ts), before admission: a hit books no capacity,
 * reserves nothing against a budget and costs nothing; the answer comes back marked `cached`
 * with what the call cost when it was made (`costSavedUsd`), which the meter counts. What is kept
 * is the answer (text, tool calls, model, stop reason, cost), never a key or header, and only
 * one of at most MAX_ANSWER_BYTES. A cache that cannot be read or written never fails a call:
 * the call goes to the provider.
 */
import { createHash } from 'node:crypto';
import { toError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import type { ResponseCacheSpec } from '../model/agent.js';
import type { Scope } from '../store/scope.js';
import type { PriceTable } from './pricing.js';
import { ProviderDecorator, type CompletionRequest, type CompletionResult, type Provider, type ToolCall } from './provider.js';

/** The largest answer kept (bytes of its JSON); a larger one is answered and not kept. */
export const MAX_ANSWER_BYTES = 256 * 1024;

/** Where answers are kept (the store's ResponseCacheStore). */
export interface AnswerStore {
  get(scope: Scope, requestHash: string): Promise<string | null>;
  put(scope: Scope, requestHash: string, answer: string, ttlSeconds: number): Promise<void>;
}

/** An answer as kept. */
interface Kept {
  text: string;
  toolCalls?: ToolCall[];
  model: string;
  stopReason?: string;
  costUsd?: number;
}

export interface ResponseCacheOptions {
  spec: ResponseCacheSpec;
  store: AnswerStore;
  /** The scope of a call's workspace (its holder names it); none: the call is not cached. */
  scopeOf: (req: CompletionRequest) => Scope | undefined;
  prices?: PriceTable | undefined;
  logger: Logger;
  /** Told of each lookup: answered from the cache or not (metrics). */
  onLookup?: ((hit: boolean) => void) | undefined;
}

/** Whether a request may be answered from the cache: at temperature 0 (unset: the providers' default, 1), or forced. */
export const cacheable = (req: Pick<CompletionRequest, 'temperature'>, spec: ResponseCacheSpec): boolean => spec.force || (req.temperature ?? 1) <= 0;

/** The SHA-256 (hex) of the canonical JSON of what decides a request's answer. */
export function requestHash(provider: string, req: CompletionRequest): string {
  const { model, system, messages, tools, toolChoice, responseSchema, temperature, maxTokens } = req;
  const decides = { provider, model, system, messages, tools, toolChoice, responseSchema, temperature, maxTokens };
  return createHash('sha256').update(canonicalJson(decides)).digest('hex');
}

/** JSON with every object's keys sorted (undefined members left out, as JSON.stringify does). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

export class ResponseCacheProvider extends ProviderDecorator {
  constructor(
    inner: Provider,
    private readonly opts: ResponseCacheOptions,
  ) {
    super(inner);
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const scope = this.opts.scopeOf(req);
    if (!scope || !cacheable(req, this.opts.spec)) return this.inner.complete(req);
    const hash = requestHash(this.name, req);
    const kept = await this.read(scope, hash);
    this.opts.onLookup?.(kept !== undefined);
    if (kept) {
      // A streaming step still shows its text to live viewers: all of it at once.
      if (kept.text) req.onText?.(kept.text);
      return {
        text: kept.text,
        ...(kept.toolCalls?.length ? { toolCalls: kept.toolCalls } : {}),
        model: kept.model,
        ...(kept.stopReason ? { stopReason: kept.stopReason } : {}),
        usage: { inputTokens: 0, outputTokens: 0 },
        cached: kept.costUsd !== undefined ? { costSavedUsd: kept.costUsd } : {},
      };
    }
    const res = await this.inner.complete(req);
    await this.keep(scope, hash, res);
    return res;
  }

  private async read(scope: Scope, hash: string): Promise<Kept | undefined> {
    try {
      const json = await this.opts.store.get(scope, hash);
      return json ? (JSON.parse(json) as Kept) : undefined;
    } catch (err) {
      this.opts.logger.warn({ err: toError(err).message }, 'could not read the response cache; the call goes to the provider');
      return undefined;
    }
  }

  private async keep(scope: Scope, hash: string, res: CompletionResult): Promise<void> {
    const costUsd = this.opts.prices?.costUsdOf(res.usage, res.model);
    const kept: Kept = {
      text: res.text,
      ...(res.toolCalls?.length ? { toolCalls: res.toolCalls } : {}),
      model: res.model,
      ...(res.stopReason ? { stopReason: res.stopReason } : {}),
      ...(costUsd !== undefined ? { costUsd } : {}),
    };
    const json = JSON.stringify(kept);
    if (Buffer.byteLength(json) > MAX_ANSWER_BYTES) return;
    try {
      await this.opts.store.put(scope, hash, json, this.opts.spec.ttlSeconds);
    } catch (err) {
      this.opts.logger.warn({ err: toError(err).message }, 'could not keep an answer in the response cache');
    }
  }
}
