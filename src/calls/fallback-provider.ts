/**
 * An agent's primary model with its `fallback` models: a call goes to the primary unless the
 * primary cannot take it: not admitted by the limiter (its circuit open, paused after a 429 or
 * an overload, its quota spent, or its limits would make the step wait longer than
 * `fallbackAfterMs`), or it answers 429 / overloaded / quota exhausted. Then each fallback is tried in order; the first that answers
 * answers (the step records which model did: the result's `model`). When none can, the
 * primary's wait stands: the step waits for capacity; a primary that cannot take the call for
 * long (its quota spent, the call too large for its limits) waits for a fallback that is only
 * busy instead of failing the step. Each model has its own admission (../pipeline.ts): under a
 * run budget its call is reserved at its own price, and a fallback the run cannot afford is not
 * called.
 */
import { CapacityWaitError, QuotaExhaustedError, RateLimitedError, TooLargeForLimitError, toError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import { askForStructure, ProviderDecorator, type CompletionRequest, type CompletionResult, type Provider } from './provider.js';

export interface FallbackTarget {
  provider: Provider;
  model: string;
}

export class FallbackProvider extends ProviderDecorator {
  constructor(
    primary: Provider,
    private readonly fallbacks: readonly FallbackTarget[],
    private readonly opts: { fallbackAfterMs: number; logger: Logger },
  ) {
    super(primary);
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    let why: Error;
    try {
      return await this.inner.complete(req);
    } catch (err) {
      // A wait for the run's budget or its workspace's cap is theirs, not the model's: no other model can help.
      const unavailable =
        (err instanceof CapacityWaitError && err.limit !== 'budget' && !err.limit.startsWith('workspace ') && err.waitMs > this.opts.fallbackAfterMs) ||
        err instanceof RateLimitedError ||
        err instanceof TooLargeForLimitError ||
        err instanceof QuotaExhaustedError;
      if (!unavailable) throw err;
      why = err;
    }
    let wait: Error | undefined;
    for (const f of this.fallbacks) {
      if (req.signal.aborted) break;
      try {
        const res = await f.provider.complete(asFor(f, req));
        this.opts.logger.info({ model: f.model, because: why.message }, 'answered by a fallback model');
        return res;
      } catch (err) {
        // Whatever failed here (unavailable too, misconfigured, down), the next one is tried;
        // when none answers, the primary's own reason stands (it waits, or is retried)...
        this.opts.logger.warn({ model: f.model, err: toError(err).message }, 'a fallback model did not answer');
        wait ??= isWait(err) ? err : undefined;
      }
    }
    // ...unless the primary can take no call for a long time (its quota is spent, the call
    // never fits its limits): then a fallback that is only busy for now is waited for.
    throw wait && (why instanceof QuotaExhaustedError || why instanceof TooLargeForLimitError) ? wait : why;
  }
}

/** A refusal that passes: a wait for capacity, or a rate limit. */
const isWait = (err: unknown): err is CapacityWaitError | RateLimitedError => err instanceof CapacityWaitError || err instanceof RateLimitedError;

/**
 * The request for a fallback: its model, and a structured answer asked for the way that
 * provider asks (a forced `answer` tool where it has no JSON mode).
 */
function asFor(f: FallbackTarget, req: CompletionRequest): CompletionRequest {
  // No call key: a fallback goes now or not at all (its turn is never booked), and the
  // primary's booking, kept in the scopes they share (the provider's, the agent's), is not
  // taken for the fallback's.
  const { responseSchema, callKey: _primary, ...rest } = req;
  return responseSchema ? { ...rest, model: f.model, ...askForStructure(f.provider, f.model, responseSchema) } : { ...rest, model: f.model };
}
