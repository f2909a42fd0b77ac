/**
 * One typed bag of the resources a Switchyard process uses: its cell, and two sides (the
 * engine's and the API's: Redis connections, queues, the flow producer, the run store and the
 * services on them), each built by one factory. The API, the worker pools and the tests all
 * start from here, so a test can hand in its own prefix, agents and workflows.
 */
import { Metrics } from './metrics/metrics.js';
import { RedisLimiter } from './calls/admission/limiter.js';
import { LimitsAdmin } from './calls/admission/admin.js';
import { FlowProducer, Queue } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import type { AgentRegistry } from './agents/registry.js';
import { DEFAULT_BOUNDS, DEFAULT_STALLED } from './config/env.js';
import type { Logger } from './logger.js';
import { CONTROL_QUEUE, CONVERSATION_QUEUE, RUN_QUEUE, REF_QUEUE, SCHEDULE_QUEUE, WEBHOOK_QUEUE, agentQueueName } from './store/keys.js';
import { sideWebhooks } from './webhooks/side-webhooks.js';
import type { DeliveryJob } from './webhooks/delivery-job.js';
import { ConversationStore } from './store/conversations.js';
import { Conversations } from './conversations/conversations.js';
import { RunControl } from './flow/run-control.js';
import { RunStore } from './store/run-store.js';
import type { Cell, Scope } from './store/scope.js';
import { CellMap } from './store/cells.js';
import { connectRedis, watched } from './store/connection.js';
import { RunQueries } from './query/run-queries.js';
import { RunActions } from './submit/run-actions.js';
import { Submissions } from './submit/submissions.js';
import { RoutingFacts } from './submit/routing.js';
import { stepPolicy, type StepPolicy } from './flow/step-policy.js';
import { Heartbeats } from './store/heartbeats.js';
import { WorkspaceCapsStore } from './store/workspace-caps.js';
import { SecretRecords } from './store/secret-records.js';
import type { WorkspaceCaps } from './model/workspace-limits.js';
import { SchedulesService } from './schedules/schedules-service.js';
import { WorkflowCatalog } from './compile/catalog.js';
import { SchemaChecker } from './lang/schema-checker.js';
import { ApiKeys } from './auth/api-keys.js';
import { AdminSessions } from './auth/sessions.js';
import { AuditLog } from './audit/audit-log.js';
import { Keyring } from './agents/keyring.js';
import { WorkspaceSecrets } from './agents/workspace-secrets.js';
import { sideAgents } from './agents/side-agents.js';
import { McpPool } from './tools/mcp/pool.js';
import type { Side, SystemOptions } from './system-parts.js';

const NO_CAPS: WorkspaceCaps = { maxRunningSteps: null, maxRunningRuns: null };

/** A command of the API's connection gets no answer within this long: it fails (503), never waits on. */
export const API_COMMAND_TIMEOUT_MS = 2_000;

/** What the Systems of a deployment's other cells take from its first one (see System.cells). */
interface Shared {
  root: System;
  index: number;
}

/**
 * The resources of one cell (its queues, flow producer, run store and the services on them),
 * and what every cell shares (connections, the global slot's keys, sessions, audit log and
 * limiter, metrics), held by the first cell's System. `new System(...)` is cell 0's; it builds
 * one System for each other cell on the same connections (`cells`), and routes a scope to its
 * cell's (`forScope`). With one cell (the default) it is the only one.
 */
export class System {
  /** This System's cell (cell 0: SWITCHYARD_PREFIX). */
  readonly cell: Cell;
  /** Every cell of the deployment and where each workspace lives. */
  readonly cellMap: CellMap;
  /** Where what every cell shares is kept (cell 0's tag: see store/cells.ts). */
  readonly global: Cell;
  /** Cell 0's System, for the others. */
  private readonly root: System | undefined;
  /** On cell 0's System: every cell's. */
  private ownCells: readonly System[] = [];
  /**
   * The engine's side (the worker pools, and a schedule firing, which submits through it so a
   * blip delays a firing instead of losing it): waits out an outage.
   */
  readonly engine: Side;
  /** What the API uses: fails fast while Redis is unreachable. */
  readonly api: Side;
  readonly schedules: SchedulesService;
  /** Retry policy and timeout of each step (the agent's, or the engine's defaults). */
  readonly policy: StepPolicy;
  /** How long a ref job sleeps before checking its target by itself, ms (default 30 s). */
  readonly refSafetyDelayMs: number;
  /** This process's metrics (GET /metrics; shared by every cell's System). */
  readonly metrics: Metrics;
  /** BullMQ's lock and stalled-check timing of every worker (a lost worker's steps go on within their sum). */
  readonly stalled: { lockDuration: number; stalledInterval: number };
  /** Output schemas compiled and answers checked off the event loop (closed with the system). */
  readonly schemas: SchemaChecker;
  /** The keys that seal workspace agents' provider keys (SWITCHYARD_SECRETS_KEY, SWITCHYARD_SECRETS_OLD_KEYS). */
  readonly keyring: Keyring;
  /** The shared limiter's pauses, as an operator sees and lifts them (on the API's connection). */
  readonly limits: LimitsAdmin;
  /** API keys (hashed), on the API's connection. */
  readonly keys: ApiKeys;
  /** Admin sessions (Bull Board's login cookie), on the API's connection. */
  readonly sessions: AdminSessions;
  /** The audit log (on the API's connection; copied to MongoDB through the outbox when it is fed). */
  readonly audit: AuditLog;
  /** The agents file's MCP servers, started on first use (one pool per process; closed with the system). */
  readonly mcp: McpPool;

  constructor(
    readonly opts: SystemOptions,
    shared?: Shared,
  ) {
    const { logger } = opts;
    const root = shared?.root;
    this.root = root;
    this.cellMap = root?.cellMap ?? new CellMap({ prefix: opts.prefix, count: opts.cells?.count ?? 1, pinned: opts.cells?.pinned ?? {} });
    this.cell = this.cellMap.cells[shared?.index ?? 0]!;
    this.global = this.cellMap.global;
    this.refSafetyDelayMs = opts.refSafetyDelayMs ?? 30_000;
    this.stalled = opts.stalled ?? DEFAULT_STALLED;
    this.metrics = root?.metrics ?? new Metrics();
    this.schemas = root?.schemas ?? opts.schemas ?? new SchemaChecker(opts.bounds ?? DEFAULT_BOUNDS);
    this.policy = root?.policy ?? stepPolicy(opts.registry);
    this.keyring = root?.keyring ?? new Keyring(opts.credentials?.secrets ?? { key: undefined, oldKeys: [] });
    this.mcp =
      root?.mcp ?? new McpPool({ servers: opts.registry.mcpServers, secrets: (ws, name) => this.engine.secrets.lookup(ws, name), egress: opts.egress, logger });
    const target = opts.clusterNodes?.length ? { clusterNodes: opts.clusterNodes } : { url: opts.redisUrl };
    const connect = (name: string, options: RedisOptions) => watched(connectRedis(target, { connectionName: name, ...options }), logger);
    // BullMQ needs maxRetriesPerRequest: null on connections its workers block on. Run state gets
    // its own connection: ioredis copies every script defined on a connection into each
    // pipeline, and BullMQ defines dozens on the one it uses. Every cell's System uses cell 0's
    // connections (one Redis, or one cluster, holds every cell).
    const engine = { maxRetriesPerRequest: null };
    this.engine = root
      ? this.buildSide(root.engine.redis, root.engine.store.redis)
      : this.buildSide(connect('switchyard', engine), connect('switchyard-state', engine));
    const api =
      root?.api.redis ??
      connect('switchyard-api', {
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        commandTimeout: API_COMMAND_TIMEOUT_MS,
      });
    // The API's side calls agents for their tests (POST /v1/agents/:name/test) through a pipeline of its own.
    this.api = this.buildSide(api, api, { testCalls: true, failFast: true });
    this.schedules = new SchedulesService({
      queue: this.api.queues.get(SCHEDULE_QUEUE)!,
      workflows: opts.workflows,
      logger,
      redis: api,
      bounds: opts.bounds ?? DEFAULT_BOUNDS,
    });
    if (root) {
      ({ keys: this.keys, sessions: this.sessions, audit: this.audit, limits: this.limits } = root);
      return;
    }
    this.ownCells = [this, ...this.cellMap.cells.slice(1).map((_, i) => new System(opts, { root: this, index: i + 1 }))];
    // What every cell shares is in the global slot.
    this.keys = new ApiKeys({ redis: api, cell: this.global });
    this.sessions = new AdminSessions({ redis: api, cell: this.global });
    this.audit = new AuditLog({ redis: api, cell: this.global, retentionSeconds: opts.retentionSeconds, outbox: opts.outbox });

    // What GET /metrics reads from Redis at scrape time, on the API's fail-fast connection.
    const limiter = new RedisLimiter(api, this.global.tag, opts.registry.limits);
    const targets = opts.registry
      .list()
      .flatMap((a) => [a, ...(a.fallbacks ?? [])])
      .filter((t) => opts.registry.limits.applies(t.provider, undefined, 'fallbackReason' in t && t.fallbackReason !== undefined));
    const cells = () => this.cells.map((s) => ({ tag: s.cell.tag, queue: (name: string) => s.api.queue(name), store: s.api.store }));
    this.limits = new LimitsAdmin({ redis: api, prefix: this.global.tag, registry: opts.registry, cells, logger });
    this.metrics.readFrom({ queueCounts: () => this.queueCounts(), limiterState: () => limiter.state(targets) });
  }

  /** Every queue's job counts, summed over the cells (one series per queue name). */
  private async queueCounts(): Promise<{ queue: string; counts: Record<string, number> }[]> {
    const sums = new Map<string, Record<string, number>>();
    for (const system of this.cells) {
      for (const [queue, q] of system.api.queues) {
        const counts = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed');
        const sum = sums.get(queue) ?? {};
        for (const [k, v] of Object.entries(counts)) sum[k] = (sum[k] ?? 0) + v;
        sums.set(queue, sum);
      }
    }
    return [...sums].map(([queue, counts]) => ({ queue, counts }));
  }

  /** The objects of one side: queues and flow producer on `redis`, run state on `stateRedis`. */
  private buildSide(redis: Redis, stateRedis: Redis, sideOpts: { testCalls?: boolean; failFast?: boolean } = {}): Side {
    const { opts, cell } = this;
    const { logger, registry } = opts;
    const bounds = opts.bounds ?? DEFAULT_BOUNDS;
    const queueNames = [...registry.names().map(agentQueueName), RUN_QUEUE, REF_QUEUE, CONTROL_QUEUE, SCHEDULE_QUEUE, CONVERSATION_QUEUE, WEBHOOK_QUEUE];
    const newQueue = (name: string) => quiet(new Queue(name, { connection: redis, prefix: cell.tag }), logger);
    const queues = new Map(queueNames.map((name) => [name, newQueue(name)]));
    // A workspace agent's queue is opened when first used (agents come and go while the process runs).
    const queue = (name: string) => {
      let q = queues.get(name);
      if (!q && name.startsWith(agentQueueName(''))) queues.set(name, (q = newQueue(name)));
      return q;
    };
    const flowProducer = quiet(new FlowProducer({ connection: redis, prefix: cell.tag }), logger);
    const store = new RunStore({
      redis: stateRedis,
      global: this.global,
      retentionSeconds: opts.retentionSeconds,
      keepCompletedJobs: opts.keepCompletedJobs ?? 0,
      outbox: opts.outbox,
      logger,
    });
    const control = new RunControl({ store, refQueue: queues.get(REF_QUEUE)!, queue, logger });
    const heartbeats = new Heartbeats({ redis: stateRedis, cell, queue, ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}) });
    const archive = opts.archive;
    const agents = sideAgents({
      redis,
      stateRedis,
      cell,
      global: this.global,
      shared: registry,
      keyring: this.keyring,
      ledger: store.budgets,
      logger,
      maxPauseMs: opts.maxPauseMs,
      providers: opts.credentials?.providers,
      ...sideOpts,
    });
    const routing = new RoutingFacts({ redis: stateRedis, limiterPrefix: this.global.tag, heartbeats });
    const queries = new RunQueries({
      store,
      registry,
      logger,
      archive,
      heartbeats,
      maxEventStreams: bounds.maxEventStreams,
      maxListScan: bounds.maxListScan,
      stalledIntervalMs: this.stalled.stalledInterval,
    });
    const webhooks = sideWebhooks({
      stateRedis,
      store,
      queries,
      keyring: this.keyring,
      queue: queues.get(WEBHOOK_QUEUE) as Queue<DeliveryJob>,
      logger,
      egress: opts.egress,
    });
    const submissions = new Submissions({
      store,
      control,
      flowProducer,
      queue,
      agentsFor: (scope, naming) => agents.registryFor(scope, naming),
      workflows: opts.workflows,
      policy: this.policy,
      logger,
      refSafetyDelayMs: this.refSafetyDelayMs,
      bounds,
      readRun: (scope, runId) => queries.get(scope, runId, { definition: true }),
      routing,
    });
    const actions = new RunActions({ store, control, logger });
    const caps = new WorkspaceCapsStore({ redis: stateRedis, defaults: opts.workspaceCaps ?? NO_CAPS });
    const conversationStore = new ConversationStore({ redis: stateRedis, outbox: opts.outbox });
    const conversations = new Conversations({
      store: conversationStore,
      queue: queues.get(CONVERSATION_QUEUE)!,
      agentsFor: (scope, naming) => agents.registryFor(scope, naming),
      awaitRunEnd: (scope, runId, waitMs, signal) => queries.awaitEnd(scope, runId, waitMs, signal),
    });
    const secrets = new WorkspaceSecrets({ records: new SecretRecords(stateRedis, sideOpts.failFast), keyring: this.keyring, scope: (ws) => this.scope(ws) });
    return {
      redis,
      store,
      control,
      flowProducer,
      queues,
      queue,
      heartbeats,
      submissions,
      queries,
      actions,
      agents,
      caps,
      secrets,
      conversationStore,
      conversations,
      routing,
      webhooks,
    };
  }

  get registry(): AgentRegistry {
    return this.opts.registry;
  }
  get workflows(): WorkflowCatalog {
    return this.opts.workflows;
  }
  /** The agent that summarises a session's older messages, when configured (SWITCHYARD_SESSION_SUMMARIZER). */
  get sessionSummarizer(): string | undefined {
    return this.opts.sessionSummarizer;
  }
  get logger(): Logger {
    return this.opts.logger;
  }

  /** Every cell's System, by cell index (this one among them). */
  get cells(): readonly System[] {
    return this.root ? this.root.cells : this.ownCells;
  }

  /** The scope of `workspace` (default: the default one), in its cell. */
  scope(workspace?: string): Scope {
    return this.cellMap.scopeOf(workspace);
  }

  /** The System of the cell `scope` is in (throws for a tag of no cell of the deployment). */
  forScope(scope: Scope | Cell): System {
    const system = this.cells[this.cellMap.indexOfTag(scope.tag)];
    if (!system) throw new Error(`"${scope.tag}" is no cell of this deployment`);
    return system;
  }

  /** Every queue of the API's side of every cell, for Bull Board. */
  allQueues(): Queue[] {
    return this.cells.flatMap((s) => [...s.api.queues.values()]);
  }

  /** An engine queue by name (`agent.<name>`, `control`, `runs`, `refs`, `schedules`). */
  queue(name: string): Queue {
    const q = this.engine.queue(name);
    if (!q) throw new Error(`no queue "${name}"`);
    return q;
  }

  agentQueue(agent: string): Queue {
    return this.queue(agentQueueName(agent));
  }

  get scheduleQueue(): Queue {
    return this.queue(SCHEDULE_QUEUE);
  }

  /** Agents no live worker process serves (their steps wait until one does). */
  async unservedAgents(): Promise<string[]> {
    const served = await Promise.all(this.cells.map((s) => s.api.heartbeats.liveQueues()));
    return this.registry.names().filter((a) => served.some((queues) => !queues.has(agentQueueName(a))));
  }

  /** Does Redis answer now? Never waits on an outage (the API's connection). */
  async ping(): Promise<boolean> {
    if (this.api.redis.status !== 'ready') return false;
    try {
      return (await this.api.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /** Every connection of the process (the engine's two, the API's). */
  connections(): Redis[] {
    return [...new Set([this.engine.redis, this.engine.store.redis, this.api.redis])];
  }

  /** Close every cell's queues and stores, then the shared connections (on cell 0's System). */
  async close(): Promise<void> {
    if (this.root) return this.root.close();
    for (const system of this.cells) {
      system.engine.store.close();
      system.api.store.close();
    }
    await this.schemas.close();
    await this.mcp.close();
    await Promise.all(
      this.cells.flatMap((s) => [s.engine, s.api]).flatMap((side) => [side.flowProducer.close(), ...[...side.queues.values()].map((q) => q.close())]),
    );
    await Promise.all(this.connections().map((r) => r.quit().catch(() => r.disconnect())));
  }
}

/** BullMQ objects re-emit their connection's errors: the connection logs them already. */
function quiet<T extends { on(event: 'error', fn: (err: Error) => void): unknown }>(emitter: T, logger: Logger): T {
  emitter.on('error', (err: Error) => logger.debug({ err: err.message }, 'queue connection error'));
  return emitter;
}
