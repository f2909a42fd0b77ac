/**
 * What a step's delivery has paid for: every provider call it makes goes through a
 * MeteredProvider (ExecutionContext.metered), which adds the call's usage, priced at the model
 * that answered, to the delivery's meter. The step machine records what the meter holds with
 * each write that ends or parks the delivery (its result, a failure, a retry, a wait, a
 * checkpoint), adding it to the step's usage: every answered call is counted once, whatever
 * became of the step, and a step's usage is what all its attempts paid for. A call answered
 * from the response cache is counted as such: no tokens, no cost, and what it saved.
 */
import type { Metrics } from '../metrics/metrics.js';
import type { PriceTable } from './pricing.js';
import { ProviderDecorator, type CallHolder, type CompletionRequest, type CompletionResult, type Provider, type TokenUsage } from './provider.js';
import type { Usage } from '../model/run.js';

const round = (n: number) => Math.round(n * 1e8) / 1e8;

export class UsageMeter {
  // What was counted since the last take, each figure a field of its own (no object made per call).
  private inputTokens = 0;
  private outputTokens = 0;
  private cacheReadTokens = 0;
  private cacheWriteTokens = 0;
  private cachedCalls = 0;
  private costSavedUsd = 0;
  private costUsd: number | undefined;
  private calls = 0;
  private estimated = false;

  constructor(private readonly prices?: PriceTable | undefined) {}

  /** Count an answered call, priced at `model` when its price is known; returns it priced. `cached`: answered from the response cache. */
  count(tokens: TokenUsage, model: string, cached?: CompletionResult['cached']): Usage {
    const counted: Usage = { inputTokens: tokens.inputTokens, outputTokens: tokens.outputTokens };
    if (tokens.estimated) counted.estimated = true;
    if (tokens.cacheReadTokens) counted.cacheReadTokens = tokens.cacheReadTokens;
    if (tokens.cacheWriteTokens) counted.cacheWriteTokens = tokens.cacheWriteTokens;
    let usage: Usage;
    if (cached) {
      usage = counted;
      usage.costUsd = 0;
      usage.cachedCalls = 1;
      if (cached.costSavedUsd !== undefined) usage.costSavedUsd = cached.costSavedUsd;
    } else {
      // Priced in place: `counted` is this call's own.
      usage = counted;
      const costUsd = this.prices?.costUsdOf(usage, model);
      if (costUsd !== undefined) usage.costUsd = costUsd;
    }
    this.calls++;
    if (tokens.estimated) this.estimated = true;
    this.inputTokens += usage.inputTokens;
    this.outputTokens += usage.outputTokens;
    this.cacheReadTokens += usage.cacheReadTokens ?? 0;
    this.cacheWriteTokens += usage.cacheWriteTokens ?? 0;
    this.cachedCalls += usage.cachedCalls ?? 0;
    this.costSavedUsd += usage.costSavedUsd ?? 0;
    if (usage.costUsd !== undefined) this.costUsd = (this.costUsd ?? 0) + usage.costUsd;
    return usage;
  }

  /** Whether every call counted since the last take was answered from the response cache (and there was one). */
  allCached(): boolean {
    return this.calls > 0 && this.cachedCalls === this.calls;
  }

  /** What was counted since the last take (null when no call was answered), and start again. */
  take(): Usage | null {
    if (this.calls === 0) return null;
    const u: Usage = { inputTokens: this.inputTokens, outputTokens: this.outputTokens };
    if (this.costUsd !== undefined) u.costUsd = round(this.costUsd);
    if (this.estimated) u.estimated = true;
    if (this.cacheReadTokens) u.cacheReadTokens = this.cacheReadTokens;
    if (this.cacheWriteTokens) u.cacheWriteTokens = this.cacheWriteTokens;
    if (this.cachedCalls) {
      u.cachedCalls = this.cachedCalls;
      u.costSavedUsd = round(this.costSavedUsd);
    }
    this.inputTokens = this.outputTokens = this.cacheReadTokens = this.cacheWriteTokens = this.cachedCalls = this.costSavedUsd = 0;
    this.calls = 0;
    this.estimated = false;
    this.costUsd = undefined;
    return u;
  }
}

/** A provider whose answered calls are counted on a meter (and in the metrics, by the model that answered). */
export class MeteredProvider extends ProviderDecorator {
  constructor(
    inner: Provider,
    private readonly meter: UsageMeter,
    private readonly metrics?: { metrics: Metrics; agent: string | undefined } | undefined,
    /** Names the step's attempt on each call (what a call holds in the limiter is released with it). */
    private readonly holder?: CallHolder,
  ) {
    super(inner);
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const res = await this.inner.complete(this.holder ? { ...req, holder: this.holder } : req);
    const usage = this.meter.count(res.usage, res.model, res.cached);
    this.metrics?.metrics.callAnswered(this.metrics.agent, res.model, usage);
    return res;
  }
}
