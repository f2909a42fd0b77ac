/**
 * The admission seam: before a provider call goes, it asks; after it, it settles. Two parts sit
 * behind it, in this order: the run's budget (budget-gate.ts: token and cost reservations) and
 * the shared limiter (limits-gate.ts: rates, tokens per minute, calls at once, pauses, circuit
 * breakers). `AdmittedProvider` is the one decorator that asks them, in the pipeline
 * (../pipeline.ts) around each model an agent may call.
 *
 * An answer is `go` (with a ticket to settle), `wait` (come back in `ms`: the step waits
 * without an attempt or a worker slot: CapacityWaitError) or `refuse` (its error says what
 * follows: a fallback model may take the call, the step fails, or the run halts).
 */
import { CapacityWaitError } from '../../errors/index.js';
import { CAPACITY_WAIT, WORKSPACE_CAP_WAIT } from '../../model/run.js';
import { ProviderDecorator, type CompletionRequest, type CompletionResult, type Provider } from '../provider.js';
import { estimateTokens } from '../token-estimate.js';

/** How long a lease (a concurrency slot, a budget reservation) outlives its call's timeout (the call is aborted at its step's timeout). */
export const LEASE_MARGIN_MS = 5_000;

/** What a call is reserved as: the tokens it sends and may receive, and of those sent, the ones it may write to the prompt cache. */
export interface CallEstimate {
  inputTokens: number;
  outputTokens: number;
  cacheWriteTokens?: number;
}

/**
 * The tokens a request sends (counted for its model: see token-estimate) and may receive (its
 * maxTokens). A request that marks its prefix for the prompt cache is reserved as writing it (the
 * dearest case, 1.25 × input on Anthropic): what it read instead is settled after.
 */
export function estimateCall(
  req: Pick<CompletionRequest, 'model' | 'system' | 'messages' | 'tools' | 'responseSchema' | 'maxTokens' | 'promptCache'>,
): CallEstimate {
  const { input, prefix } = estimateTokens(req);
  const e = { inputTokens: input, outputTokens: req.maxTokens };
  return req.promptCache ? { ...e, cacheWriteTokens: Math.min(input, prefix) } : e;
}

/**
 * `req`'s estimate, counted on first use and kept. Made here, not as an arrow in an object
 * literal: run through tsx (npm start, the bench), esbuild's keepNames names such an arrow with
 * Object.defineProperty on each call.
 */
function estimateOnce(req: CompletionRequest): () => CallEstimate {
  let estimate: CallEstimate | undefined;
  return () => (estimate ??= estimateCall(req));
}

/** A call asking to go. */
export interface CallAsk {
  req: CompletionRequest;
  /** Its estimate (estimateCall), counted once, on first use: a part with nothing to count never pays for it. */
  estimate: () => CallEstimate;
}

export type Verdict<T> =
  | { kind: 'go'; ticket: T }
  /**
   * Not now: `why` follows CAPACITY_WAIT in the step's reason (WORKSPACE_CAP_WAIT for a
   * `limit` that begins with `workspace `); `limit` names what is waited for (rpm, tpm,
   * maxConcurrent, budget, workspace maxRunningSteps...).
   */
  | { kind: 'wait'; ms: number; why: string; limit: string }
  /** Not this call: `error` is what it ends with (QuotaRefusedError, TooLargeForLimitError, BudgetExceededError). */
  | { kind: 'refuse'; error: Error };

/** How an admitted call ended: its answer, or what it threw. */
export type CallEnd = { answer: CompletionResult } | { error: unknown };

export interface Admission<T> {
  /** May throw only the call's abort reason (it was aborted while waiting a moment for its turn). */
  acquire(call: CallAsk): Promise<Verdict<T>>;
  /**
   * Give back what `ticket` holds and count what the call used. Returns the call's end as its
   * caller sees it (a failure may be named better: a quota found spent). Never throws: what
   * it could not settle is logged, and expires by itself.
   */
  settle(ticket: T, end: CallEnd): Promise<CallEnd>;
}

/** The parts, asked in order: a later one is asked only once the earlier ones let the call go; settled in reverse. */
export function admissionOf(parts: readonly Admission<unknown>[]): Admission<unknown[]> {
  const settleAll = async (taken: readonly unknown[], end: CallEnd): Promise<CallEnd> => {
    for (let i = taken.length - 1; i >= 0; i--) end = await parts[i]!.settle(taken[i], end);
    return end;
  };
  return {
    async acquire(call) {
      const taken: unknown[] = [];
      for (const part of parts) {
        let verdict: Verdict<unknown>;
        try {
          verdict = await part.acquire(call);
        } catch (error) {
          await settleAll(taken, { error });
          throw error;
        }
        if (verdict.kind !== 'go') {
          // What the earlier parts granted is given back: the call is not made.
          await settleAll(taken, { error: verdict.kind === 'refuse' ? verdict.error : new CapacityWaitError(verdict.why, verdict.ms, verdict.limit) });
          return verdict;
        }
        taken.push(verdict.ticket);
      }
      return { kind: 'go', ticket: taken };
    },
    settle: settleAll,
  };
}

/** A provider whose calls go only when `admission` lets them. */
export class AdmittedProvider<T> extends ProviderDecorator {
  constructor(
    inner: Provider,
    private readonly admission: Admission<T>,
  ) {
    super(inner);
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const verdict = await this.admission.acquire({ req, estimate: estimateOnce(req) });
    if (verdict.kind === 'wait') {
      const prefix = verdict.limit.startsWith('workspace ') ? WORKSPACE_CAP_WAIT : CAPACITY_WAIT;
      throw new CapacityWaitError(`${prefix}${verdict.why}`, verdict.ms, verdict.limit);
    }
    if (verdict.kind === 'refuse') throw verdict.error;
    let end: CallEnd;
    try {
      end = { answer: await this.inner.complete(req) };
    } catch (error) {
      end = { error };
    }
    const settled = await this.admission.settle(verdict.ticket, end);
    if ('answer' in settled) return settled.answer;
    throw settled.error;
  }
}
