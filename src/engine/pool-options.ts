/** What a process's worker pools serve, and how (startWorkerPools). */
import type { Provider } from '../calls/provider.js';
import type { Executors } from '../kinds/executor.js';
import type { ToolSources } from '../tools/toolbox.js';

export interface WorkerPoolsOptions {
  /** Agent types to serve (all when omitted). */
  agents?: readonly string[];
  /** Run the internal workers (engine steps, runs, refs, schedules, watchdog). Default true. */
  internal?: boolean;
  /** Replace a provider (tests). */
  providerFor?: (agent: string) => Provider;
  /**
   * Serve the queues of the workspaces' own agents (created over the API), as they come.
   * @default true when `agents` is omitted (all agents served)
   */
  workspaceAgents?: boolean;
  /** Tool sources over the process's own (tests: a tool of their own as an HTTP tool). */
  tools?: Partial<ToolSources>;
  /** Replace executors (tests): every kind not given keeps its own. */
  executors?: (defaults: Executors) => Partial<Executors>;
  /**
   * BullMQ lock and stalled-check timing of the step workers, ms (tests shorten them to
   * exercise crash recovery). @default the system's (SWITCHYARD_LOCK_DURATION_MS, SWITCHYARD_STALLED_INTERVAL_MS)
   */
  stalled?: { lockDuration: number; stalledInterval: number };
  /** How a step's result write is retried on Redis errors (see StepMachineDeps.recordRetry). */
  recordRetry?: { tries: number; firstDelayMs: number };
  /** Waits before each retry of a webhook delivery, ms (tests shorten them). @default DELIVERY_BACKOFF_MS (about a day in all) */
  webhookBackoffMs?: readonly number[];
  /**
   * The sweeper of runs whose jobs were never added, and of finished runs whose run.finished
   * notice was never queued (`noticeGraceMs`: a mark's age before it is looked at), internal
   * workers only. @default {everyMs: 30000, graceMs: 60000, noticeGraceMs: 60000}
   */
  sweep?: { everyMs: number; graceMs: number; noticeGraceMs?: number };
}
