/**
 * One typed bag of the resources a Switchyard process uses (Redis, queues, the flow
 * producer, the run store and services). The API, the worker pools and the tests all start
 * from here, so a test can hand in its own prefix, agents and workflows.
 */
import { Metrics } from './metrics/metrics.js';
import { RedisLimiter } from './calls/admission/limiter.js';
import { LimitsAdmin } from './calls/admission/admin.js';
import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { resolveAgents, type AgentRegistry } from './agents/registry.js';
import { DEFAULT_BOUNDS, DEFAULT_STALLED, type Config, type Bounds } from './config/env.js';
import type { Logger } from './logger.js';
import { CONTROL_QUEUE, RUN_QUEUE, REF_QUEUE, SCHEDULE_QUEUE, agentQueueName } from './store/keys.js';
import { RunControl } from './flow/run-control.js';
import { RunStore } from './store/run-store.js';
import { RunsService, type RunArchive } from './submit/runs-service.js';
import { stepPolicy, type StepPolicy } from './flow/step-policy.js';
import { WorkerRegistry } from './store/heartbeats.js';
import { SchedulesService } from './schedules/schedules-service.js';
import { WorkflowCatalog } from './compile/catalog.js';
import { compileWorkflow } from './compile/compile.js';
import { SchemaChecker } from './lang/schema-checker.js';
import type { CompiledWorkflow } from './kinds/definition.js';

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
}

/** A command of the API's connection gets no answer within this long: it fails (503), never waits on. */
export const API_COMMAND_TIMEOUT_MS = 2_000;

/**
 * The API's side of a process: its own Redis connection, which never queues a command while
 * Redis is unreachable and never re-sends one after a reconnect (a request answers 503 at
 * once instead of hanging, and nothing it gave up on runs later), and the objects on it.
 */
export interface ApiSide {
  redis: Redis;
  store: RunStore;
  control: RunControl;
  flowProducer: FlowProducer;
  /** Every queue, by name (Bull Board, promotes and wakes of a cancel). */
  queues: Map<string, Queue>;
  /** Which queues live workers serve (why a step waits, /readyz). */
  workers: WorkerRegistry;
}

export class System {
  /** BullMQ's connection for the engine (queues, workers, flow producer): waits out an outage. */
  readonly redis: Redis;
  /** The engine's run state, events and cancellation messages: waits out an outage. */
  readonly stateRedis: Redis;
  /** The engine's flow producer (steps added at run time). */
  readonly flowProducer: FlowProducer;
  /** The engine's run store. */
  readonly store: RunStore;
  /** The engine's run control (a failed step ends its run). */
  readonly control: RunControl;
  /** The engine's side of the worker heartbeats. */
  readonly workers: WorkerRegistry;
  /** What the API (and a schedule firing) uses: fails fast while Redis is unreachable. */
  readonly api: ApiSide;
  /** The API's runs service (fails fast while Redis is unreachable). */
  readonly runs: RunsService;
  /**
   * The same service on the engine's connections, which wait an outage out: a schedule firing
   * submits through it, so a blip delays a firing instead of losing it.
   */
  readonly engineRuns: RunsService;
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
  /** The shared limiter's pauses, as an operator sees and lifts them (on the API's connection). */
  readonly limits: LimitsAdmin;
  private readonly queuesByName: Map<string, Queue>;

  constructor(readonly opts: SystemOptions) {
    const { prefix, logger } = opts;
    this.refSafetyDelayMs = opts.refSafetyDelayMs ?? 30_000;
    this.stalled = opts.stalled ?? DEFAULT_STALLED;
    this.schemas = opts.schemas ?? new SchemaChecker(opts.bounds ?? DEFAULT_BOUNDS);
    // BullMQ needs maxRetriesPerRequest: null on connections its workers block on.
    this.redis = watched(new Redis(opts.redisUrl, { maxRetriesPerRequest: null, connectionName: 'switchyard' }), logger);
    // Run state gets its own connection: ioredis copies every script defined on a connection
    // into each pipeline, and BullMQ defines dozens on the one it uses.
    this.stateRedis = watched(new Redis(opts.redisUrl, { maxRetriesPerRequest: null, connectionName: 'switchyard-state' }), logger);
    const apiRedis = watched(
      new Redis(opts.redisUrl, {
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        commandTimeout: API_COMMAND_TIMEOUT_MS,
        connectionName: 'switchyard-api',
      }),
      logger,
    );
    const queueNames = [...opts.registry.names().map(agentQueueName), RUN_QUEUE, REF_QUEUE, CONTROL_QUEUE, SCHEDULE_QUEUE];
    const queues = (connection: Redis) => new Map(queueNames.map((name) => [name, quiet(new Queue(name, { connection, prefix }), logger)]));

    this.policy = stepPolicy(opts.registry);
    this.queuesByName = queues(this.redis);
    this.flowProducer = quiet(new FlowProducer({ connection: this.redis, prefix }), logger);
    const storeOpts = { prefix, retentionSeconds: opts.retentionSeconds, keepCompletedJobs: opts.keepCompletedJobs ?? 0, outbox: opts.outbox, logger };
    this.store = new RunStore({ redis: this.stateRedis, ...storeOpts });
    this.control = new RunControl({ store: this.store, refQueue: this.queue(REF_QUEUE), queue: (name) => this.queuesByName.get(name), logger });
    const heartbeatMs = opts.heartbeatMs;
    this.workers = new WorkerRegistry({ redis: this.stateRedis, prefix, queue: (name) => this.queuesByName.get(name), heartbeatMs });

    const apiQueues = queues(apiRedis);
    const apiStore = new RunStore({ redis: apiRedis, ...storeOpts });
    this.api = {
      redis: apiRedis,
      store: apiStore,
      control: new RunControl({ store: apiStore, refQueue: apiQueues.get(REF_QUEUE)!, queue: (name) => apiQueues.get(name), logger }),
      flowProducer: quiet(new FlowProducer({ connection: apiRedis, prefix }), logger),
      queues: apiQueues,
      workers: new WorkerRegistry({ redis: apiRedis, prefix, queue: (name) => apiQueues.get(name), heartbeatMs }),
    };
    const services = {
      registry: opts.registry,
      workflows: opts.workflows,
      policy: this.policy,
      logger,
      refSafetyDelayMs: this.refSafetyDelayMs,
      maxEventStreams: (opts.bounds ?? DEFAULT_BOUNDS).maxEventStreams,
      stalledIntervalMs: this.stalled.stalledInterval,
      bounds: opts.bounds ?? DEFAULT_BOUNDS,
      maxListScan: (opts.bounds ?? DEFAULT_BOUNDS).maxListScan,
      ...(opts.archive ? { archive: opts.archive } : {}),
    };
    this.runs = new RunsService({
      ...services,
      store: this.api.store,
      flowProducer: this.api.flowProducer,
      queue: (name) => apiQueues.get(name),
      control: this.api.control,
      workers: this.api.workers,
    });
    this.engineRuns = new RunsService({
      ...services,
      store: this.store,
      flowProducer: this.flowProducer,
      queue: (name) => this.queuesByName.get(name),
      control: this.control,
      workers: this.workers,
    });
    // What GET /metrics reads from Redis at scrape time, on the API's fail-fast connection.
    const limiter = new RedisLimiter(apiRedis, prefix, opts.registry.limits);
    const targets = opts.registry
      .list()
      .flatMap((a) => [a, ...(a.fallbacks ?? [])])
      .filter((t) => opts.registry.limits.applies(t.provider, undefined, 'fallbackReason' in t && t.fallbackReason !== undefined));
    this.limits = new LimitsAdmin({ redis: apiRedis, prefix, registry: opts.registry, queue: (name) => apiQueues.get(name), store: apiStore, logger });
    this.metrics.readFrom({
      queueCounts: () =>
        Promise.all(
          [...apiQueues].map(async ([queue, q]) => ({
            queue,
            counts: await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'),
          })),
        ),
      limiterState: () => limiter.state(targets),
    });
    this.schedules = new SchedulesService({
      queue: apiQueues.get(SCHEDULE_QUEUE)!,
      workflows: opts.workflows,
      logger,
      redis: apiRedis,
      bounds: opts.bounds ?? DEFAULT_BOUNDS,
    });
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

  /** Every queue of the API's side, for Bull Board. */
  allQueues(): Queue[] {
    return [...this.api.queues.values()];
  }

  /** An engine queue by name (`agent.<name>`, `control`, `runs`, `refs`, `schedules`). */
  queue(name: string): Queue {
    const q = this.queuesByName.get(name);
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
    const served = await this.api.workers.liveQueues();
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

  async close(): Promise<void> {
    this.store.close();
    this.api.store.close();
    await this.schemas.close();
    await Promise.all([
      this.flowProducer.close(),
      this.api.flowProducer.close(),
      ...[...this.queuesByName.values(), ...this.api.queues.values()].map((q) => q.close()),
    ]);
    await Promise.all([this.redis, this.stateRedis, this.api.redis].map((r) => r.quit().catch(() => r.disconnect())));
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
  });
}
