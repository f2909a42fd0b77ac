/**
 * Redis key and queue names: the only module that knows the layout. Every key starts with the
 * BullMQ prefix (a `{hash tag}` by default), so a run's keys and its queues share one Redis
 * Cluster slot. Lua scripts receive these names (or the prefix of a family of them) and never
 * build a name of their own.
 */

/** Queue of the `run` jobs: the root of every run's flow, which finalises the run. */
export const RUN_QUEUE = 'runs';
/** Internal queue of `ref` jobs: extra edges to steps owned by another branch of the tree. */
export const REF_QUEUE = 'refs';
/** Queue fed by the job schedulers (cron). */
export const SCHEDULE_QUEUE = 'schedules';
/** Internal queue of the steps the engine runs itself (kinds without an agent). */
export const CONTROL_QUEUE = 'control';

/** A finished run of at most this many steps is compacted into one hash (see keys.run). */
export const COMPACT_MAX_STEPS = 100;

export const agentQueueName = (agent: string): string => `agent.${agent}`;
/** The queue a step's job goes to: its agent's, or the engine's own. */
export const stepQueueName = (step: { agent?: string | undefined }): string => (step.agent ? agentQueueName(step.agent) : CONTROL_QUEUE);
export const stepJobId = (runId: string, stepId: string): string => `${runId}.${stepId}`;
/** `~` appears in no step id, so (target, dependent) pairs never produce the same id. */
export const refJobId = (runId: string, target: string, dependent: string): string => `${runId}.${target}~ref~${dependent}`;

export const keys = {
  /**
   * Hash: a live run's record (JSON values), `outputSteps` and `definitionId`. A finished run
   * of at most COMPACT_MAX_STEPS steps, none of them running when it finished, is compacted
   * into it: fields `status`, `run` (the record without its output, which its steps hold,
   * with `outputSteps` and `definitionId`), `steps` and `events` (JSON lists), and its other
   * keys are deleted.
   */
  run: (prefix: string, runId: string) => `${prefix}:run:${runId}`,
  /** List: the run's step ids, in the order they were added (definition first, then grown ones). */
  runSteps: (prefix: string, runId: string) => `${prefix}:run:${runId}:steps`,
  /** Set: every ref job id of the run (woken when the run ends early). */
  runRefs: (prefix: string, runId: string) => `${prefix}:run:${runId}:refs`,
  /** Hash: one step record (JSON values) and its checkpoint. */
  step: (prefix: string, runId: string, stepId: string) => `${prefix}:run:${runId}:s:${stepId}`,
  /** What a step id is appended to for its key (scripts that reach many steps get this). */
  stepPrefix: (prefix: string, runId: string) => `${prefix}:run:${runId}:s:`,
  /** Hash: feedback on the run's steps, step id → JSON (kept beside a compacted run, with its time to live). */
  feedback: (prefix: string, runId: string) => `${prefix}:run:${runId}:feedback`,
  /**
   * List: the run's ordered events (JSON each, without the run id); an event's id is its
   * position, from 1. The same name is the pub/sub channel each new event is published on.
   */
  events: (prefix: string, runId: string) => `${prefix}:run:${runId}:events`,
  /**
   * String: a compiled workflow (JSON), stored once for every run of it; `id` is a hash of its
   * content. Its time to live is renewed by every run that starts or finishes on it.
   */
  definition: (prefix: string, id: string) => `${prefix}:def:${id}`,
  /** What a definition id is appended to for its key (run-finish renews it). */
  definitionPrefix: (prefix: string) => `${prefix}:def:`,
  /** Sorted set: a workspace's run ids by creation time (listing). */
  runIndex: (prefix: string, workspaceId: string) => `${prefix}:ws:${workspaceId}:runs`,
  /**
   * Sorted set: a workspace's runs of one workflow by creation time (listing by workflow reads
   * it, not the whole index). Pruned of runs created before the retention period, and expiring
   * one retention period after its last run (see run-listing.ts).
   */
  workflowRunIndex: (prefix: string, workspaceId: string, workflow: string) => `${prefix}:ws:${workspaceId}:runs:wf:${workflow}`,
  /** String: when (ms) the first run of a workspace was indexed by workflow; older runs are found in the main index only. */
  workflowIndexSince: (prefix: string, workspaceId: string) => `${prefix}:ws:${workspaceId}:runs:wf-since`,
  /** String: `<runId> <requestHash>` of the run holding a workspace's idempotency key. */
  idempotency: (prefix: string, workspaceId: string, key: string) => `${prefix}:ws:${workspaceId}:idem:${key}`,
  /**
   * Sorted set: runs still `queued` (no step started), by when they were last checked (ms).
   * create-run adds a run, its first start or its end removes it; the sweeper fails one whose
   * flow was never added (a submission cut short).
   */
  queuedRuns: (prefix: string) => `${prefix}:queued-runs`,
  /** Sorted set: worker process ids by their last heartbeat (ms). */
  workers: (prefix: string) => `${prefix}:workers`,
  /** Hash: worker process id → its heartbeat: the queues it serves and its BullMQ worker ids (JSON). */
  workerQueues: (prefix: string) => `${prefix}:worker-queues`,
  /** String: BullMQ's lock of a job in progress (its layout, read here only): the holding worker's token. */
  jobLock: (prefix: string, queue: string, jobId: string) => `${prefix}:${queue}:${jobId}:lock`,
  /** Stream: finished steps and runs for MongoDB (only with MONGODB_URI). */
  outbox: (prefix: string) => `${prefix}:outbox`,
  /**
   * Hash: the shared limiter state of one scope (a provider, or one of its models; per API key
   * when declared: `anthropic`, `anthropic/claude-x`, `anthropic#<key hash>/claude-x`): GCRA
   * arrival times, pause, breaker. Sorted set `:leases`: its calls in flight by lease expiry.
   */
  limit: (prefix: string, scope: string) => `${prefix}:limit:${scope}`,
  limitLeases: (prefix: string, scope: string) => `${prefix}:limit:${scope}:leases`,
  /** Sorted set: the turns booked for calls refused for a scope's request rate (call key → turn, ms). */
  limitBookings: (prefix: string, scope: string) => `${prefix}:limit:${scope}:bookings`,
  /**
   * Sorted set: the limiter scopes paused after a 429, an overload or a spent quota (scope id →
   * paused until, ms), listed for operators (/readyz, GET /v1/limits, `npm run limits`); entries
   * whose pause has long passed are dropped when another pause is written, and the set expires an
   * hour after the last one.
   */
  limitPaused: (prefix: string) => `${prefix}:limits:paused`,
  /**
   * Sorted set: what the provider calls of a run's steps hold, by when each hold expires (ms):
   * turns booked and calls-at-once leases in the shared limiter, reservations against the run's
   * budget. Released together when the run ends, for a step when it is cancelled, and for a
   * step's earlier attempts when a recovered attempt takes over. Member format: see
   * scripts/lua/includes/holdEntry.lua.
   */
  runHolds: (prefix: string, runId: string) => `${prefix}:run:${runId}:holds`,
  /**
   * Pub/sub channel: what in-flight steps must be aborted: `<runId>` (all of the run's), or
   * `<runId> <stepId> ...` (those steps only).
   */
  cancelChannel: (prefix: string) => `${prefix}:cancel`,
};
