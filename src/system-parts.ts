/**
 * What a System (src/system.ts) is given (`SystemOptions`) and what each of its two sides holds
 * (`Side`): the types, apart from the class that builds them.
 */
import type { FlowProducer, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AgentRegistry } from './agents/registry.js';
import type { WorkspaceAgents } from './agents/workspace-agents.js';
import type { WorkspaceSecrets } from './agents/workspace-secrets.js';
import type { WorkflowCatalog } from './compile/catalog.js';
import type { Bounds, Config, EgressConfig } from './config/env.js';
import type { Conversations } from './conversations/conversations.js';
import type { RunControl } from './flow/run-control.js';
import type { SchemaChecker } from './lang/schema-checker.js';
import type { Logger } from './logger.js';
import type { WorkspaceCaps } from './model/workspace-limits.js';
import type { RunArchive, RunQueries } from './query/run-queries.js';
import type { ConversationStore } from './store/conversations.js';
import type { Heartbeats } from './store/heartbeats.js';
import type { RunStore } from './store/run-store.js';
import type { WorkspaceCapsStore } from './store/workspace-caps.js';
import type { RoutingFacts } from './submit/routing.js';
import type { RunActions } from './submit/run-actions.js';
import type { Submissions } from './submit/submissions.js';
import type { Webhooks } from './webhooks/webhooks.js';

/**
 * The System's options that come from the configuration alone, in one place: both builders
 * (bootstrap.ts, system-definitions.ts) spread them and add what they make themselves (the
 * registry, the workflows, the schema checker, the outbox and archive).
 */
export function configuredOptions(config: Config) {
  return {
    redisUrl: config.redisUrl,
    clusterNodes: config.cells.clusterNodes,
    prefix: config.prefix,
    cells: config.cells,
    retentionSeconds: config.retentionSeconds,
    keepCompletedJobs: config.keepCompletedJobs,
    bounds: config.bounds,
    stalled: config.stalled,
    heartbeatMs: config.heartbeatMs,
    maxDebugBytes: config.maxDebugBytes,
    maxPauseMs: config.maxPauseMs,
    credentials: config,
    workspaceCaps: config.workspaceCaps,
    sessionSummarizer: config.sessionSummarizer,
    egress: config.egress,
  } satisfies Partial<SystemOptions>;
}

export interface SystemOptions {
  redisUrl: string;
  /** A Redis Cluster's nodes (REDIS_CLUSTER_NODES): every connection is a cluster one, `redisUrl` is not used. @default none */
  clusterNodes?: readonly { host: string; port: number }[] | undefined;
  /** Cell 0's tag (SWITCHYARD_PREFIX); the other cells' are derived from it. */
  prefix: string;
  /** How many cells, and the workspaces pinned to one (SWITCHYARD_CELLS, SWITCHYARD_CELL_OF). @default one cell */
  cells?: { count: number; pinned?: Readonly<Record<string, number>> };
  retentionSeconds: number;
  /** Completed jobs each queue keeps (Bull Board); 0 removes them. @default 0 */
  keepCompletedJobs?: number;
  registry: AgentRegistry;
  workflows: WorkflowCatalog;
  logger: Logger;
  /** Feed the outbox stream (a consumer writes it to the system of record). */
  outbox: boolean;
  archive?: RunArchive;
  /** Safety delay of ref jobs, ms. Default 30 s. */
  refSafetyDelayMs?: number;
  /** Bounds on requests (default: the configuration's defaults). */
  bounds?: Bounds;
  /** BullMQ's lock and stalled-check timing of every worker, ms. @default {lockDuration: 20000, stalledInterval: 10000} */
  stalled?: { lockDuration: number; stalledInterval: number };
  /** How often a worker process beats, ms. @default 5000 */
  heartbeatMs?: number;
  /** Most bytes a step keeps of its last provider call and of its tool calls (SWITCHYARD_MAX_DEBUG_BYTES). @default 32768 */
  maxDebugBytes?: number;
  /** The thread that compiles output schemas and checks answers (default: one of its own); the catalog's. */
  schemas?: SchemaChecker;
  /** The longest pause after a 429 or an overload, ms (SWITCHYARD_MAX_PAUSE_MS). @default 5 minutes */
  maxPauseMs?: number;
  /**
   * The deployment's provider keys (used by a workspace agent without a key of its own) and the
   * keys that seal workspace agents' keys (SWITCHYARD_SECRETS_KEY...). @default none of either
   */
  credentials?: Pick<Config, 'providers' | 'secrets'>;
  /** Every workspace's default caps (SWITCHYARD_WORKSPACE_MAX_RUNNING_*). @default none (unlimited) */
  workspaceCaps?: WorkspaceCaps;
  /** The agent that summarises a session's older messages (default: the session's own). */
  sessionSummarizer?: string | undefined;
  /** Where outbound HTTP calls may go (NODE_ENV=production, SWITCHYARD_EGRESS_ALLOW). @default any host but link-local and metadata ones */
  egress?: EgressConfig;
}

/**
 * One side of a process: the objects that act on runs, on one side's connections. The engine's
 * wait an outage out; the API's fail fast (a request answers 503 at once instead of hanging,
 * and nothing it gave up on runs later). Both are built by `buildSide`.
 */
export interface Side {
  /** BullMQ's connection (queues, flow producer; the engine's workers block on it). */
  redis: Redis;
  /** Run state, events and cancellations (on its own connection: see buildSide). */
  store: RunStore;
  control: RunControl;
  flowProducer: FlowProducer;
  /** Every queue, by name (Bull Board, promotes and wakes of a cancel). */
  queues: Map<string, Queue>;
  /** A queue by name: a workspace agent's is opened on first use; undefined for a name that is no queue. */
  queue: (name: string) => Queue | undefined;
  /** The worker processes' heartbeats: which queues live ones serve (why a step waits, /readyz). */
  heartbeats: Heartbeats;
  submissions: Submissions;
  queries: RunQueries;
  actions: RunActions;
  /** Workspaces' own agents (created over the API), beside the shared ones. */
  agents: WorkspaceAgents;
  /** Workspaces' caps on running steps and runs: their own and the defaults, and the counters they hold. */
  caps: WorkspaceCapsStore;
  /** Conversations (the API's sessions): their records, and the service that queues their turns. */
  conversationStore: ConversationStore;
  conversations: Conversations;
  /** Workspaces' secrets (`{{ secrets.NAME }}` of their tools), sealed with the keyring. */
  secrets: WorkspaceSecrets;
  /** The health facts routing by capability chooses by (breakers, pauses, heartbeats). */
  routing: RoutingFacts;
  /** Webhooks: subscriptions, runs' own, and the deliveries the events queue. */
  webhooks: Webhooks;
}
