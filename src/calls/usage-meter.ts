/**
 * What a step's delivery has paid for: every provider call it makes goes through a
 * MeteredProvider (ExecutionContext.metered), which adds the call's usage, priced at the model
 * that answered, to the delivery's meter. The step machine records what the meter holds with
 * each write that ends or parks the delivery (its result, a failure, a retry, a wait, a
 * checkpoint), adding it to the step's usage: every answered call is counted once, whatever
 * became of the step, and a step's usage is what all its attempts paid for.
 */
import type { Metrics } from '../metrics/metrics.js';
import type { PriceTable } from './pricing.js';
import { ProviderDecorator, type CallHolder, type CompletionRequest, type CompletionResult, type Provider } from './provider.js';
import type { Usage } from '../model/run.js';

export class UsageMeter {
  private inputTokens = 0;
  private outputTokens = 0;
  private costUsd: number | undefined;
  private calls = 0;
  private estimated = false;

  constructor(private readonly prices?: PriceTable | undefined) {}

  /** Count an answered call, priced at `model` when its price is known; returns it priced. */
  count(tokens: { inputTokens: number; outputTokens: number; estimated?: boolean | undefined }, model: string): Usage {
    const counted: Usage = { inputTokens: tokens.inputTokens, outputTokens: tokens.outputTokens, ...(tokens.estimated ? { estimated: true } : {}) };
    const usage = this.prices?.withCost(counted, model) ?? counted;
    this.calls++;
    if (tokens.estimated) this.estimated = true;
    this.inputTokens += usage.inputTokens;
    this.outputTokens += usage.outputTokens;
    if (usage.costUsd !== undefined) this.costUsd = (this.costUsd ?? 0) + usage.costUsd;
    return usage;
  }

  /** What was counted since the last take (null when no call was answered), and start again. */
  take(): Usage | null {
    if (this.calls === 0) return null;
    const u: Usage = {
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      ...(this.costUsd !== undefined ? { costUsd: Math.round(this.costUsd * 1e8) / 1e8 } : {}),
      ...(this.estimated ? { estimated: true } : {}),
    };
    this.inputTokens = this.outputTokens = this.calls = 0;
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
    const usage = this.meter.count(res.usage, res.model);
    this.metrics?.metrics.callAnswered(this.metrics.agent, res.model, usage);
    return res;
  }
}
