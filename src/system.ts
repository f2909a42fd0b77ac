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
import { Redis, type RedisOptions } from 'ioredis';
import { resolveAgents, type AgentRegistry } from './agents/registry.js';
import { DEFAULT_BOUNDS, DEFAULT_STALLED, type Config, type Bounds } from './config/env.js';
import type { Logger } from './logger.js';
import { CONTROL_QUEUE, RUN_QUEUE, REF_QUEUE, SCHEDULE_QUEUE, agentQueueName } from './store/keys.js';
import { RunControl } from './flow/run-control.js';
import { RunStore } from './store/run-store.js';
import { cellOf, scopeOf, type Cell, type Scope } from './store/scope.js';
import { RunQueries, type RunArchive } from './query/run-queries.js';
import { RunActions } from './submit/run-actions.js';
import { Submissions } from './submit/submissions.js';
import { stepPolicy, type StepPolicy } from './flow/step-policy.js';
import { Heartbeats } from './store/heartbeats.js';
import { WorkspaceCapsStore } from './store/workspace-caps.js';
import type { WorkspaceCaps } from './model/workspace-limits.js';
import { SchedulesService } from './schedules/schedules-service.js';
import { WorkflowCatalog } from './compile/catalog.js';
import { compileWorkflow } from './compile/compile.js';
import { SchemaChecker } from './lang/schema-checker.js';
import type { CompiledWorkflow } from './kinds/definition.js';
import { ApiKeys } from './auth/api-keys.js';
import { AdminSessions } from './auth/sessions.js';
import { AuditLog } from './audit/audit-log.js';
import { Keyring } from './agents/keyring.js';
import type { WorkspaceAgents } from './agents/workspace-agents.js';
import { sideAgents } from './agents/side-agents.js';

export interface SystemOptions {
  redisUrl: string;
  prefix: string;
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
}

const NO_CAPS: WorkspaceCaps = { maxRunningSteps: null, maxRunningRuns: null };

/** A command of the API's connection gets no answer within this long: it fails (503), never waits on. */
export const API_COMMAND_TIMEOUT_MS = 2_000;

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
}

export class System {
  /** The cell every key of this process is in (SWITCHYARD_PREFIX). */
  readonly cell: Cell;
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
  /** This process's metrics (GET /metrics). */
  readonly metrics = new Metrics();
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

  constructor(readonly opts: SystemOptions) {
    const { logger } = opts;
    this.cell = cellOf(opts.prefix);
    this.refSafetyDelayMs = opts.refSafetyDelayMs ?? 30_000;
    this.stalled = opts.stalled ?? DEFAULT_STALLED;
    this.schemas = opts.schemas ?? new SchemaChecker(opts.bounds ?? DEFAULT_BOUNDS);
    this.policy = stepPolicy(opts.registry);
    this.keyring = new Keyring(opts.credentials?.secrets ?? { key: undefined, oldKeys: [] });
    const connect = (name: string, options: RedisOptions) => watched(new Redis(opts.redisUrl, { connectionName: name, ...options }), logger);
    // BullMQ needs maxRetriesPerRequest: null on connections its workers block on. Run state gets
    // its own connection: ioredis copies every script defined on a connection into each
    // pipeline, and BullMQ defines dozens on the one it uses.
    const engine = { maxRetriesPerRequest: null };
    this.engine = this.buildSide(connect('switchyard', engine), connect('switchyard-state', engine));
    const api = connect('switchyard-api', {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: API_COMMAND_TIMEOUT_MS,
    });
    // The API's side calls agents for their tests (POST /v1/agents/:name/test) through a pipeline of its own.
    this.api = this.buildSide(api, api, { testCalls: true, failFast: true });
    this.keys = new ApiKeys({ redis: api, cell: this.cell });
    this.sessions = new AdminSessions({ redis: api, cell: this.cell });
    this.audit = new AuditLog({ redis: api, cell: this.cell, retentionSeconds: opts.retentionSeconds, outbox: opts.outbox });

    // What GET /metrics reads from Redis at scrape time, on the API's fail-fast connection.
    const limiter = new RedisLimiter(api, opts.prefix, opts.registry.limits);
    const targets = opts.registry
      .list()
      .flatMap((a) => [a, ...(a.fallbacks ?? [])])
      .filter((t) => opts.registry.limits.applies(t.provider, undefined, 'fallbackReason' in t && t.fallbackReason !== undefined));
    const apiQueue = (name: string) => this.api.queue(name);
    this.limits = new LimitsAdmin({ redis: api, prefix: opts.prefix, registry: opts.registry, queue: apiQueue, store: this.api.store, logger });
    this.metrics.readFrom({
      queueCounts: () =>
        Promise.all(
          [...this.api.queues].map(async ([queue, q]) => ({
            queue,
            counts: await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'),
          })),
        ),
      limiterState: () => limiter.state(targets),
    });
    this.schedules = new SchedulesService({
      queue: this.api.queues.get(SCHEDULE_QUEUE)!,
      workflows: opts.workflows,
      logger,
      redis: api,
      bounds: opts.bounds ?? DEFAULT_BOUNDS,
    });
  }

  /** The objects of one side: queues and flow producer on `redis`, run state on `stateRedis`. */
  private buildSide(redis: Redis, stateRedis: Redis, sideOpts: { testCalls?: boolean; failFast?: boolean } = {}): Side {
    const { opts, cell } = this;
    const { logger, registry } = opts;
    const bounds = opts.bounds ?? DEFAULT_BOUNDS;
    const queueNames = [...registry.names().map(agentQueueName), RUN_QUEUE, REF_QUEUE, CONTROL_QUEUE, SCHEDULE_QUEUE];
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
      shared: registry,
      keyring: this.keyring,
      ledger: store.budgets,
      logger,
      maxPauseMs: opts.maxPauseMs,
      providers: opts.credentials?.providers,
      ...sideOpts,
    });
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
    });
    const actions = new RunActions({ store, control, logger });
    const caps = new WorkspaceCapsStore({ redis: stateRedis, defaults: opts.workspaceCaps ?? NO_CAPS });
    return { redis, store, control, flowProducer, queues, queue, heartbeats, submissions, queries, actions, agents, caps };
  }

  get registry(): AgentRegistry {
    return this.opts.registry;
  }
  get workflows(): WorkflowCatalog {
    return this.opts.workflows;
  }
  get logger(): Logger {
    return this.opts.logger;
  }

  /** The scope of `workspace` (default: the default one) in this process's cell. */
  scope(workspace?: string): Scope {
    return scopeOf(this.cell, workspace);
  }

  /** Every queue of the API's side, for Bull Board. */
  allQueues(): Queue[] {
    return [...this.api.queues.values()];
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
    const served = await this.api.heartbeats.liveQueues();
    return this.registry.names().filter((a) => !served.has(agentQueueName(a)));
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

  async close(): Promise<void> {
    this.engine.store.close();
    this.api.store.close();
    await this.schemas.close();
    await Promise.all([this.engine, this.api].flatMap((side) => [side.flowProducer.close(), ...[...side.queues.values()].map((q) => q.close())]));
    await Promise.all(this.connections().map((r) => r.quit().catch(() => r.disconnect())));
  }
}

/**
 * A connection whose errors are logged (once per outage, then its recovery) instead of
 * reaching ioredis' "unhandled error event" printout.
 */
export function watched(redis: Redis, logger: Logger): Redis {
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.warn({ connection: redis.options.connectionName, err: err.message }, 'Redis connection lost; retrying');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ connection: redis.options.connectionName }, 'Redis connection back');
  });
  return redis;
}

/** BullMQ objects re-emit their connection's errors: the connection logs them already. */
function quiet<T extends { on(event: 'error', fn: (err: Error) => void): unknown }>(emitter: T, logger: Logger): T {
  emitter.on('error', (err: Error) => logger.debug({ err: err.message }, 'queue connection error'));
  return emitter;
}

/**
 * A System from agents and workflows given in code rather than files (tests, benchmarks,
 * embedding): the same validation as agents.yaml and flows/ apply.
 */
export function systemFromDefinitions(opts: {
  config: Config;
  /** The `agents:` map of an agents file. */
  agents: Record<string, unknown>;
  /** The `pricing:` map of an agents file. */
  pricing?: Record<string, unknown>;
  /** The `providers:` map of an agents file (limits, breakers). */
  providers?: Record<string, unknown>;
  /** Workflow definitions, as in flows/*.yaml. */
  workflows?: unknown[];
  /** Names them in error messages. */
  source: string;
  logger: Logger;
  outbox?: boolean;
  retentionSeconds?: number;
  /** Where runs past Redis retention are read from. */
  archive?: RunArchive;
  /** Safety delay of ref jobs, ms. Default 30 s. */
  refSafetyDelayMs?: number;
}): System {
  const registry = resolveAgents(
    { agents: opts.agents, ...(opts.pricing ? { pricing: opts.pricing } : {}), ...(opts.providers ? { providers: opts.providers } : {}) },
    opts.config,
    `${opts.source} agents`,
  );
  const schemas = new SchemaChecker(opts.config.bounds);
  const named = new Map<string, CompiledWorkflow>();
  for (const def of opts.workflows ?? []) {
    const wf = compileWorkflow(def, { agents: registry.names(), source: opts.source, bounds: opts.config.bounds });
    named.set(wf.name, wf);
  }
  return new System({
    redisUrl: opts.config.redisUrl,
    prefix: opts.config.prefix,
    retentionSeconds: opts.retentionSeconds ?? opts.config.retentionSeconds,
    keepCompletedJobs: opts.config.keepCompletedJobs,
    registry,
    workflows: new WorkflowCatalog(
      named,
      () => registry.names(),
      opts.config.bounds,
      (agent) => registry.get(agent),
      schemas,
    ),
    schemas,
    logger: opts.logger,
    outbox: opts.outbox ?? false,
    ...(opts.archive ? { archive: opts.archive } : {}),
    ...(opts.refSafetyDelayMs ? { refSafetyDelayMs: opts.refSafetyDelayMs } : {}),
    bounds: opts.config.bounds,
    stalled: opts.config.stalled,
    heartbeatMs: opts.config.heartbeatMs,
    maxDebugBytes: opts.config.maxDebugBytes,
    maxPauseMs: opts.config.maxPauseMs,
    credentials: opts.config,
    workspaceCaps: opts.config.workspaceCaps,
  });
}
