/**
 * How a run's state ends: the run-finish script (the first caller wins), with a large run's
 * steps settled in parts first, then what its calls held released, and this process's
 * listeners told. Every path that ends a run comes through `finish` (or a step's write that
 * finishes a single-step run: `finished`).
 */
import { keys } from './keys.js';
import type { RunBudgets } from './budgets.js';
import type { Scope } from './scope.js';
import { parseJson, runFinish, stepsSettle, type RunFinishArgs, type RunFinishedFacts, type RunFinishReply, type SettledSteps } from './scripts/index.js';
import type { StoreContext } from './store-context.js';
import { isTerminalRun, type RunStatus } from '../model/run.js';

/** A run of more steps than this is settled with its steps read outside its finish script. */
export const SETTLE_IN_SCRIPT = 500;
const SETTLE_BATCH = 100;

/** Told of every run this store finishes, with what its finishing write read; a promise is awaited (a webhook's delivery queued before the finish returns). */
export type FinishedListener = (scope: Scope, runId: string, status: RunStatus, facts: RunFinishedFacts) => void | Promise<void>;

/** Facts not read by the write that finished a run: each is then read by whoever needs it. */
const UNKNOWN: RunFinishedFacts = { holds: true, notice: true };

export class RunEndings {
  private readonly listeners = new Set<FinishedListener>();

  constructor(
    private readonly ctx: StoreContext,
    private readonly budgets: Pick<RunBudgets, 'releaseHolds'>,
  ) {}

  /**
   * Call `listener` for every run this store finishes, in this process, once the finish is
   * applied (the benchmark times runs with it). Returns the unsubscribe function.
   */
  onFinished(listener: FinishedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Finish a run once: the first caller wins, later ones get `applied: false` and the status
   * in force. Steps not yet finished end `cancelled` with `reason`. `auto` settles a run whose
   * steps' jobs are all done: status, error and output follow from the steps, and a step still
   * live lost its job and is failed.
   */
  async finish(
    scope: Scope,
    runId: string,
    status: RunFinishArgs['status'],
    opts: { output?: unknown; error?: string | null; reason?: string } = {},
  ): Promise<RunFinishReply> {
    const settled = status === 'auto' ? await this.settleLargeRun(scope, runId) : undefined;
    const res = await runFinish(this.ctx.redis, {
      scope,
      runId,
      status,
      ...(settled ? { settled } : {}),
      ...opts,
      reason: opts.reason ?? `run ${status}`,
      outbox: this.ctx.outbox,
      retentionSeconds: this.ctx.retentionSeconds,
    });
    if (res.applied) await this.finished(scope, runId, res.status, res.facts);
    return res;
  }

  /**
   * A run has ended, by whichever path: what its calls held goes back at once (its turns booked
   * no longer hold back other runs' calls), then the listeners are told. `facts`: what the write
   * that finished it read (`holds: false`: it held nothing, nothing to read back).
   */
  readonly finished = async (scope: Scope, runId: string, status: RunStatus, facts: RunFinishedFacts = UNKNOWN): Promise<void> => {
    if (facts.holds) await this.budgets.releaseHolds(scope, runId);
    for (const listener of this.listeners) await listener(scope, runId, status, facts);
  };

  /**
   * A run of more than SETTLE_IN_SCRIPT steps, every one of them ended: its steps read and given
   * their TTL here, SETTLE_BATCH at a time (lua/steps-settle.lua), so that its finish is a short
   * script (one that read 10,000 steps would hold Redis for tens of milliseconds). Undefined
   * for a smaller run, a finished one, or one with a step still live (the script settles it,
   * failing the steps whose jobs were lost).
   */
  private async settleLargeRun(scope: Scope, runId: string): Promise<SettledSteps | undefined> {
    const { redis, retentionSeconds } = this.ctx;
    const [n, status] = await Promise.all([redis.llen(keys.runSteps(scope, runId)), redis.hget(keys.run(scope, runId), 'status')]);
    // A finished run is left to the script, which says so (the first finisher won).
    if (n <= SETTLE_IN_SCRIPT || status === null || isTerminalRun(parseJson<RunStatus>(status))) return undefined;
    const failed: string[] = [];
    const skipped: string[] = [];
    let nFailed = 0;
    let requiredFailed: string | undefined;
    let inputTokens = 0;
    let outputTokens = 0;
    let costUsd: number | undefined;
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i += SETTLE_BATCH) {
      const part = await stepsSettle(redis, { scope, runId, retentionSeconds, from: i, to: i + SETTLE_BATCH - 1 });
      if (!part) return undefined;
      if (part.failed) failed.push(part.failed);
      if (part.skipped) skipped.push(part.skipped);
      nFailed += part.nFailed;
      requiredFailed ??= part.requiredFailed;
      inputTokens += part.inputTokens;
      outputTokens += part.outputTokens;
      if (part.costUsd !== undefined) costUsd = (costUsd ?? 0) + part.costUsd;
      for (const [k, v] of Object.entries(part.cacheCounts)) counts[k] = (counts[k] ?? 0) + v;
    }
    if (counts.costSavedUsd !== undefined) counts.costSavedUsd = Math.round(counts.costSavedUsd * 1e8) / 1e8;
    const usage = JSON.stringify({ inputTokens, outputTokens, ...(costUsd !== undefined ? { costUsd: Math.round(costUsd * 1e8) / 1e8 } : {}), ...counts });
    return { failed: `[${failed.join(',')}]`, nFailed, skipped: `[${skipped.join(',')}]`, usage, ...(requiredFailed ? { requiredFailed } : {}) };
  }
}
