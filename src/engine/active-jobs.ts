/**
 * The steps this process is running, by run, so a cancellation published by any process can
 * abort them here (`worker.cancelJob` fires the processor's AbortSignal).
 */
import type { Worker } from 'bullmq';

export class ActiveJobs {
  private readonly byRun = new Map<string, Map<string, Worker>>();

  /** Register a running job; call the returned function when it ends. */
  track(runId: string, worker: Worker, jobId: string): () => void {
    let jobs = this.byRun.get(runId);
    if (!jobs) this.byRun.set(runId, (jobs = new Map()));
    jobs.set(jobId, worker);
    return () => {
      jobs.delete(jobId);
      if (jobs.size === 0 && this.byRun.get(runId) === jobs) this.byRun.delete(runId);
    };
  }

  /** Abort every job of `runId` running in this process (or only those of `jobIds`); returns how many were signalled. */
  cancelRun(runId: string, reason: string, jobIds?: readonly string[]): number {
    const jobs = this.byRun.get(runId);
    if (!jobs) return 0;
    let n = 0;
    const only = jobIds ? new Set(jobIds) : undefined;
    for (const [jobId, worker] of jobs) if ((!only || only.has(jobId)) && worker.cancelJob(jobId, reason)) n++;
    return n;
  }
}
