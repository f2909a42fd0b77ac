/**
 * The steps this process is running, by run (of a workspace), so a cancellation published by any process can
 * abort them here (each running step is tracked with the cancel that fires the signal its work runs under).
 *
 * A cancellation can arrive between the moment a job's step starts and the moment it is
 * tracked here: the cancellations of the last RECENT_MS are kept, and a job tracked after its
 * cancellation arrived is aborted at once.
 */
import type { Scope } from '../store/scope.js';

const RECENT_MS = 30_000;

/** How a running job is cancelled, with the reason (execute.ts: its segment's signal fires). */
export type Cancel = (reason: string) => void;

/** A run of a workspace, as this process's maps know it. */
const runOf = (scope: Pick<Scope, 'workspace'>, runId: string): string => `${scope.workspace} ${runId}`;

export class ActiveJobs {
  private readonly byRun = new Map<string, Map<string, Cancel>>();
  /** Recent cancellations: a run (all of its jobs) or a job id → when it arrived, and why. */
  private readonly recent = new Map<string, { at: number; reason: string }>();

  /** Register a running job; call the returned function when it ends. */
  track(scope: Pick<Scope, 'workspace'>, runId: string, jobId: string, cancel: Cancel): () => void {
    const run = runOf(scope, runId);
    let jobs = this.byRun.get(run);
    if (!jobs) this.byRun.set(run, (jobs = new Map<string, Cancel>()));
    jobs.set(jobId, cancel);
    // Mostly no cancellation arrived of late: nothing to look up.
    const missed = this.recent.size > 0 ? (this.recent.get(jobId) ?? this.recent.get(run)) : undefined;
    if (missed && Date.now() - missed.at < RECENT_MS) cancel(missed.reason);
    return () => {
      jobs.delete(jobId);
      if (jobs.size === 0 && this.byRun.get(run) === jobs) this.byRun.delete(run);
    };
  }

  /** Abort every job of `runId` running in this process (or only those of `jobIds`); returns how many were signalled. */
  cancelRun(scope: Pick<Scope, 'workspace'>, runId: string, reason: string, jobIds?: readonly string[]): number {
    const run = runOf(scope, runId);
    this.remember(jobIds ?? [run], reason);
    const jobs = this.byRun.get(run);
    if (!jobs) return 0;
    let n = 0;
    const only = jobIds ? new Set(jobIds) : undefined;
    for (const [jobId, cancel] of jobs) {
      if (only && !only.has(jobId)) continue;
      cancel(reason);
      n++;
    }
    return n;
  }

  private remember(ids: readonly string[], reason: string): void {
    const now = Date.now();
    for (const [id, { at }] of this.recent) {
      if (now - at < RECENT_MS) break; // in arrival order: the rest are newer
      this.recent.delete(id);
    }
    for (const id of ids) {
      this.recent.delete(id);
      this.recent.set(id, { at: now, reason });
    }
  }
}
