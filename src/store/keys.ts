/**
 * Redis key and queue names: the only module that knows the layout. Every key starts with its
 * cell's tag (the BullMQ prefix, a `{hash tag}`), so a run's keys and its queues share one Redis
 * Cluster slot. Lua scripts receive these names (or the prefix of a family of them) and never
 * build a name of their own.
 *
 * The layout (`<tag>`: the cell's, `<ws>`: the scope's workspace):
 * - `<tag>:ws:<ws>:run:<id>...`: a run's keys (record, steps, refs, events, feedback, holds).
 * - `<tag>:ws:<ws>:...`: a workspace's own keys (run indexes, idempotency keys, definitions, spend envelopes).
 * - `<tag>:<name>`: the cell's (`queued-runs`, `workers`, `worker-queues`, `outbox`, `cancel`,
 *   `ws-agents`, `fair:<queue>`), and BullMQ's queues (`<tag>:<queue>:...`; no queue is named `ws`).
 * - `<global>:<name>`: what every cell shares, built from the global slot's cell (cell 0's tag:
 *   see cells.ts): `limit:...`, `limits:paused`, `auth:...`, `audit`. Provider limits are shared
 *   by every workspace of the deployment.
 * A run id or key of one workspace names nothing in another.
 */
import type { Cell, Scope, ScopedRun } from './scope.js';

/** Queue of the `run` jobs: the root of every run's flow, which finalises the run. */
export const RUN_QUEUE = 'runs';
/** Internal queue of `ref` jobs: extra edges to steps owned by another branch of the tree. */
export const REF_QUEUE = 'refs';
/** Queue fed by the job schedulers (cron). */
export const SCHEDULE_QUEUE = 'schedules';
/** Queue of webhook deliveries (one job per webhook and event, retried with backoff for a day). */
export const WEBHOOK_QUEUE = 'webhooks';
/** Internal queue of the steps the engine runs itself (kinds without an agent). */
export const CONTROL_QUEUE = 'control';
/** Queue of conversation turns (one job per turn: its run started, awaited, its answer appended). */
export const CONVERSATION_QUEUE = 'conversations';

/** A finished run of at most this many steps is compacted into one hash (see keys.run). */
export const COMPACT_MAX_STEPS = 100;

/** Queues are per cell (BullMQ's `prefix` is the cell's tag), never per workspace. */
export const agentQueueName = (agent: string): string => `agent.${agent}`;
/** The queue a step's job goes to: its agent's, or the engine's own. */
export const stepQueueName = (step: { agent?: string | undefined }): string => (step.agent ? agentQueueName(step.agent) : CONTROL_QUEUE);
export const stepJobId = (runId: string, stepId: string): string => `${runId}.${stepId}`;
/** `~` appears in no step id, so (target, dependent) pairs never produce the same id. */
export const refJobId = (runId: string, target: string, dependent: string): string => `${runId}.${target}~ref~${dependent}`;

// includes/workspaceOf.lua reads a step's workspace back from `:ws:<ws>:run:` (see ARCHITECTURE.md).
const ws = (s: Scope) => `${s.tag}:ws:${s.workspace}`;
const run = (s: Scope, runId: string) => `${ws(s)}:run:${runId}`;
// A key id is 12 lowercase letters and digits (auth/api-keys.ts): never `run`, nor a day.
const envelope = (s: Scope, keyId?: string) => (keyId ? `${ws(s)}:key:${keyId}:envelope` : `${ws(s)}:envelope`);

export const keys = {
  /**
   * Hash: a live run's record (JSON values), `outputSteps` and `definitionId`. A finished run
   * of at most COMPACT_MAX_STEPS steps, none of them running when it finished, is compacted
   * into it: fields `status`, `run` (the record without its output, which its steps hold,
   * with `outputSteps` and `definitionId`, left out when null), `steps` and `events` (JSON lists), and its other
   * keys are deleted.
   */
  run,
  /** List: the run's step ids, in the order they were added (definition first, then grown ones). */
  runSteps: (s: Scope, runId: string) => `${run(s, runId)}:steps`,
  /** Set: every ref job id of the run (woken when the run ends early). */
  runRefs: (s: Scope, runId: string) => `${run(s, runId)}:refs`,
  /** Hash: one step record (JSON values) and its checkpoint. */
  step: (s: Scope, runId: string, stepId: string) => `${run(s, runId)}:s:${stepId}`,
  /** What a step id is appended to for its key (scripts that reach many steps get this). */
  stepPrefix: (s: Scope, runId: string) => `${run(s, runId)}:s:`,
  /** Hash: feedback on the run's steps, step id → JSON (kept beside a compacted run, with its time to live). */
  feedback: (s: Scope, runId: string) => `${run(s, runId)}:feedback`,
  /**
   * List: the run's ordered events (JSON each, without the run id); an event's id is its
   * position, from 1. The same name is the pub/sub channel each new event is published on.
   */
  events: (s: Scope, runId: string) => `${run(s, runId)}:events`,
  /**
   * Sorted set: what the provider calls of a run's steps hold, by when each hold expires (ms):
   * turns booked and calls-at-once leases in the shared limiter, reservations against the run's
   * budget. Released together when the run ends, for a step when it is cancelled, and for a
   * step's earlier attempts when a recovered attempt takes over. Member format: see
   * scripts/lua/includes/holdEntry.lua.
   */
  runHolds: (s: Scope, runId: string) => `${run(s, runId)}:holds`,
  /**
   * String: a spend envelope (JSON, model/envelope.ts): what a workspace (no key id) or one of
   * its API keys may spend per UTC day. No time to live: it holds until changed or removed.
   */
  envelope,
  /**
   * Hash: an envelope's day (`YYYY-MM-DD`, UTC): spentTokens, spentCostUsd, reservedTokens,
   * reservedCostUsd, warned (the 80% warning given). Lives two days from its first write.
   */
  envelopeDay: (s: Scope, keyId: string | undefined, day: string) => `${envelope(s, keyId)}:${day}`,
  /** Sorted set: the reservations held against an envelope's day (`<lease> <tokens> <cost>`) by when each expires (ms). */
  envelopeLeases: (s: Scope, keyId: string | undefined, day: string) => envelopeLeasesOf(`${envelope(s, keyId)}:${day}`),
  /**
   * String: a compiled workflow (JSON), stored once for every run of it in the workspace; `id`
   * is a hash of its content. Its time to live is renewed by every run that starts or finishes on it.
   */
  definition: (s: Scope, id: string) => `${ws(s)}:def:${id}`,
  /** What a definition id is appended to for its key (run-finish renews it). */
  definitionPrefix: (s: Scope) => `${ws(s)}:def:`,
  /** Sorted set: a workspace's run ids by creation time (listing). */
  runIndex: (s: Scope) => `${ws(s)}:runs`,
  /**
   * Sorted set: a workspace's runs of one workflow by creation time (listing by workflow reads
   * it, not the whole index). Pruned of runs created before the retention period, and expiring
   * one retention period after its last run (see run-listing.ts).
   */
  workflowRunIndex: (s: Scope, workflow: string) => `${ws(s)}:runs:wf:${workflow}`,
  /** String: when (ms) the first run of a workspace was indexed by workflow; older runs are found in the main index only. */
  workflowIndexSince: (s: Scope) => `${ws(s)}:runs:wf-since`,
  /** String: `<runId> <requestHash>` of the run holding a workspace's idempotency key. */
  idempotency: (s: Scope, key: string) => `${ws(s)}:idem:${key}`,
  /**
   * Sorted set: runs still `queued` (no step started), by when they were last checked (ms); a
   * member is the run's key (keys.run: parseRunKey reads its scope and id back). create-run adds
   * a run, its first start or its end removes it; the sweeper fails one whose flow was never
   * added (a submission cut short).
   */
  queuedRuns: (c: Cell) => `${c.tag}:queued-runs`,
  /**
   * Sorted set: runs awaiting their run.finished webhook notice, by when they were added (or
   * last looked at, ms); a member is the run's key (keys.run). Added before the run exists
   * when a webhook wants its finish, removed once the notice is queued (src/webhooks/finish-notices.ts).
   */
  finishNotices: (c: Cell) => `${c.tag}:finish-notices`,
  /** Sorted set: worker process ids by their last heartbeat (ms). */
  workers: (c: Cell) => `${c.tag}:workers`,
  /** Hash: worker process id → its heartbeat: the queues it serves and its BullMQ worker ids (JSON). */
  workerQueues: (c: Cell) => `${c.tag}:worker-queues`,
  /** String: BullMQ's lock of a job in progress (its layout, read here only): the holding worker's token. */
  jobLock: (c: Cell, queue: string, jobId: string) => `${c.tag}:${queue}:${jobId}:lock`,
  /** Stream: finished steps and runs for MongoDB (only with MONGODB_URI); each entry's doc names its workspace. */
  outbox: (c: Cell) => `${c.tag}:outbox`,
  /**
   * Hash: the shared limiter state of one limit scope (a provider, or one of its models; per API
   * key when declared: `anthropic`, `anthropic/claude-x`, `anthropic#<key hash>/claude-x`): GCRA
   * arrival times, pause, breaker. Sorted set `:leases`: its calls in flight by lease expiry.
   * Shared by every workspace of the deployment (built from the tag only).
   */
  limit: (c: Cell, id: string) => `${c.tag}:limit:${id}`,
  limitLeases: (c: Cell, id: string) => `${c.tag}:limit:${id}:leases`,
  /** Sorted set: the turns booked for calls refused for a limit scope's request rate (call key → turn, ms). */
  limitBookings: (c: Cell, id: string) => `${c.tag}:limit:${id}:bookings`,
  /**
   * Sorted set: the limit scopes paused after a 429, an overload or a spent quota (scope id →
   * paused until, ms), listed for operators (/readyz, GET /v1/limits, `npm run limits`); entries
   * whose pause has long passed are dropped when another pause is written, and the set expires an
   * hour after the last one.
   */
  limitPaused: (c: Cell) => `${c.tag}:limits:paused`,
  /**
   * String: a workspace's API request rate (GCRA): the theoretical arrival time of its next
   * request, µs of Redis' clock, expiring when the workspace is back at rest. See api-rate.lua.
   */
  apiRate: (s: Scope) => `${ws(s)}:api-rate`,
  /**
   * Hash: a workspace's own agents (created over the API), agent name → its record (JSON: the
   * spec as given, its provider key sealed, its version). See agent-records.ts.
   */
  agents: (s: Scope) => `${ws(s)}:agents`,
  /** String: a conversation (the API's session) as JSON, its turns included (see store/conversations.ts). */
  conversation: (s: Scope, id: string) => `${ws(s)}:conv:${id}`,
  /** Sorted set: a workspace's conversation ids by creation time (ms), for listing. */
  conversationIndex: (s: Scope) => `${ws(s)}:convs`,
  /**
   * Hash: a workspace's secrets (set over the API, used as `{{ secrets.NAME }}` by its tools),
   * name → `{sealed, updatedAt}` (JSON; the value sealed, never in clear). See secret-records.ts.
   */
  secrets: (s: Scope) => `${ws(s)}:secrets`,
  /**
   * Hash: a workspace's webhook subscriptions, id → its record (JSON: url, events, scheduleId,
   * the secret sealed). See webhook-records.ts.
   */
  webhooks: (s: Scope) => `${ws(s)}:webhooks`,
  /**
   * Hash: the workspace's subscriptions that take run.finished, id → the schedule they are for
   * ('' for any run), written with them: what the create-run script reads to mark a run
   * awaiting its finish notice, and what the finishing write looks at (no record decoded).
   */
  webhooksFinished: (s: Scope) => `${ws(s)}:webhooks:finished`,
  /** String: a run's own webhook (JSON, its secret sealed), kept a week. */
  runWebhook: (s: Scope, runId: string) => `${ws(s)}:webhook-run:${runId}`,
  /**
   * Sorted set: the runs of a workspace whose own webhook has a sealed secret (run id → when
   * that webhook expires, ms), for resealing them; pruned of expired ones at each write, and
   * expiring with the last of them.
   */
  runWebhookIndex: (s: Scope) => `${ws(s)}:webhook-runs`,
  /** List: a webhook's delivery attempts, newest first, capped, kept a week after the last. */
  webhookDeliveries: (s: Scope, id: string) => `${ws(s)}:webhook-deliveries:${id}`,
  /** Set: the workspaces of the cell that have (or had) secrets, for resealing them all (`npm run secrets -- reencrypt`). */
  secretWorkspaces: (c: Cell) => `${c.tag}:ws-secrets`,
  /** Set: the workspaces of the cell that have (or had) a webhook with a secret, for resealing them all (`npm run secrets -- reencrypt`). */
  webhookWorkspaces: (c: Cell) => `${c.tag}:ws-webhooks`,
  /**
   * Hash: every workspace agent of the cell, `<workspace>/<name>` → `{version, concurrency}`
   * (JSON): which agent queues the worker processes serve, and how many steps at once.
   */
  agentIndex: (c: Cell) => `${c.tag}:ws-agents`,
  /** Pub/sub channel: a workspace agent was created, changed or deleted (`<workspace>/<name>`). */
  agentsChannel: (c: Cell) => `${c.tag}:ws-agents:changed`,
  /** Pub/sub channel: what in-flight steps must be aborted (see cancelMessage). */
  cancelChannel: (c: Cell) => `${c.tag}:cancel`,
  /**
   * Hash: fair sharing of one queue of the cell among workspaces (fair-turns.lua): `v`, the
   * virtual time (the turn the queue serves now), and per workspace `f:<ws>` (the turn of its
   * last job), `j:<ws>` (that job's id) and `t:<ws>` (when it was given, ms). Deleted whenever
   * the queue has no prioritized job left (every workspace starts again from 0); expires a day
   * after its last write.
   */
  fairTurns: (c: Cell, queue: string) => `${c.tag}:fair:${queue}`,
  /** BullMQ's keys of a queue (its layout, read here only): `<base>prioritized`, `<base>wait`, `<base><jobId>` (a job's hash). */
  bullQueueBase: (c: Cell, queue: string) => `${c.tag}:${queue}:`,
  /** What a run id is appended to for its hash (ws-run-admit.lua looks at the runs it counts). */
  runPrefix: (s: Scope) => `${ws(s)}:run:`,
  /**
   * String: an answer of the response cache (JSON: text, tool calls, model, stop reason, what
   * it cost), by the SHA-256 of its request (src/calls/response-cache.ts), with the agent's
   * `cache.ttlSeconds` to live. A workspace's answers are never another's.
   */
  responseCache: (s: Scope, requestHash: string) => `${ws(s)}:rcache:${requestHash}`,
  /** Hash: a workspace's own caps (`maxRunningSteps`, `maxRunningRuns`: a number, or absent for the default), set by an admin. */
  workspaceLimits: (s: Scope) => `${ws(s)}:limits`,
  /** Sorted set: a workspace's steps calling a provider now (`<runId>.<stepId>` → lease expiry, ms), against its maxRunningSteps. */
  runningSteps: (s: Scope) => `${ws(s)}:running-steps`,
  /** Sorted set: a workspace's runs started and not yet seen finished (run id → when it started, ms), against its maxRunningRuns. */
  runningRuns: (s: Scope) => `${ws(s)}:running-runs`,
  /** Hash: API key id → its record (JSON: workspace, scopes, SHA-256 of its secret, expiry, revocation); never the key itself. */
  apiKeys: (c: Cell) => `${c.tag}:auth:keys`,
  /** String: an admin session (Bull Board's cookie), by the SHA-256 of its token → its principal (JSON), with its time to live. */
  adminSession: (c: Cell, tokenHash: string) => `${c.tag}:auth:session:${tokenHash}`,
  /** Stream: the audit log (who did what, when, from where), capped; copied to MongoDB through the outbox. */
  audit: (c: Cell) => `${c.tag}:audit`,
};

/** The leases key of an envelope day's key (keys.envelopeDay), as a run's reservation names the day. */
export const envelopeLeasesOf = (dayKey: string): string => `${dayKey}:leases`;

/** The run a key of keys.run names (a queued-runs member), or undefined when it names none of `cell`'s. */
export function parseRunKey(cell: Cell, key: string): ScopedRun | undefined {
  const m = /^:ws:([^:]+):run:([^:]+)$/.exec(key.startsWith(cell.tag) ? key.slice(cell.tag.length) : '');
  return m ? { scope: { tag: cell.tag, workspace: m[1]! }, runId: m[2]! } : undefined;
}

/** A cancel channel message: abort `runId`'s in-flight steps (all of them, or only `stepIds`). */
export const cancelMessage = (s: Scope, runId: string, stepIds: readonly string[] = []): string => [s.workspace, runId, ...stepIds].join(' ');

/** A cancel channel message read back (workspace and step ids contain no space). */
export function parseCancelMessage(message: string): { workspace: string; runId: string; stepIds: string[] } {
  const [workspace = '', runId = '', ...stepIds] = message.split(' ');
  return { workspace, runId, stepIds };
}
