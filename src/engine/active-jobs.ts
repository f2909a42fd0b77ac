/**
 * The steps this process is running (of each workspace), so a cancellation of their run published by any process can
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

/** A run or a job of a workspace, as this process's maps know it (a job's id names its run: a step's is `<runId>.<stepId>`). */
const scoped = (scope: Pick<Scope, 'workspace'>, id: string): string => `${scope.workspace} ${id}`;

/** A running job: its run, and how it is cancelled. */
interface Running {
  workspace: string;
  runId: string;
  cancel: Cancel;
}

export class ActiveJobs {
  /**
   * The running jobs, in one map (by workspace and job id): no map per run is made and dropped
   * as its steps start and end one after the other.
   */
  private readonly running = new Map<string, Running>();
  /** Recent cancellations: a run (all of its jobs) or a job, of a workspace → when it arrived, and why. */
  private readonly recent = new Map<string, { at: number; reason: string }>();

  /** Register a running job; call the returned function when it ends. */
  track(scope: Pick<Scope, 'workspace'>, runId: string, jobId: string, cancel: Cancel): () => void {
    const job = scoped(scope, jobId);
    const entry: Running = { workspace: scope.workspace, runId, cancel };
    this.running.set(job, entry);
    // Mostly no cancellation arrived of late: nothing to look up.
    const missed = this.recent.size > 0 ? (this.recent.get(job) ?? this.recent.get(scoped(scope, runId))) : undefined;
    if (missed && Date.now() - missed.at < RECENT_MS) cancel(missed.reason);
    // Only its own entry: a job delivered again (stalled) while this one still runs has its own.
    return () => {
      if (this.running.get(job) === entry) this.running.delete(job);
    };
  }

  /** Abort every job of `runId` running in this process (or only those of `jobIds`); returns how many were signalled. */
  cancelRun(scope: Pick<Scope, 'workspace'>, runId: string, reason: string, jobIds?: readonly string[]): number {
    const ids = jobIds ? [...new Set(jobIds)].map((id) => scoped(scope, id)) : undefined;
    this.remember(ids ?? [scoped(scope, runId)], reason);
    const jobs = ids ? ids.map((id) => this.running.get(id)) : this.running.values();
    let n = 0;
    for (const job of jobs) {
      if (job?.runId !== runId || job.workspace !== scope.workspace) continue;
      job.cancel(reason);
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
