/**
 * One typed bag of the resources a Switchyard process uses (Redis, queues, the flow
 * producer, the run store and services). The API, the worker pools and the tests all start
 * from here, so a test can hand in its own prefix, agents and workflows.
 */
import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { resolveAgents, type AgentRegistry } from './agents/registry.js';
import type { Config } from './config/env.js';
import type { Logger } from './logger.js';
import { CONTROL_QUEUE, RUN_QUEUE, REF_QUEUE, SCHEDULE_QUEUE, agentQueueName } from './runs/keys.js';
import { RunControl } from './runs/run-control.js';
import { RunStore } from './runs/run-store.js';
import { RunsService, type RunArchive } from './runs/runs-service.js';
import { stepPolicy, type StepPolicy } from './runs/step-policy.js';
import { SchedulesService } from './schedules/schedules-service.js';
import { WorkflowCatalog } from './workflows/catalog.js';
import { compileWorkflow } from './workflows/compile.js';
import type { CompiledWorkflow } from './workflows/definition.js';

export interface SystemOptions {
  redisUrl: string;
  prefix: string;
  retentionSeconds: number;
  registry: AgentRegistry;
  workflows: WorkflowCatalog;
  logger: Logger;
  /** Feed the outbox stream (a consumer writes it to the system of record). */
  outbox: boolean;
  archive?: RunArchive;
  /** Safety delay of ref jobs, ms. Default 30 s. */
  refSafetyDelayMs?: number;
}

export class System {
  /** BullMQ's connection (queues, workers, flow producer). */
  readonly redis: Redis;
  /** Run state, events and cancellation messages. */
  readonly stateRedis: Redis;
  readonly flowProducer: FlowProducer;
  readonly store: RunStore;
  readonly control: RunControl;
  readonly runs: RunsService;
  readonly schedules: SchedulesService;
  /** Retry policy and timeout of each step (the agent's, or the engine's defaults). */
  readonly policy: StepPolicy;
  /** Agent queues by agent name. */
  readonly agentQueues: Map<string, Queue>;
  readonly runQueue: Queue;
  readonly refQueue: Queue;
  readonly scheduleQueue: Queue;
  /** The queue of the steps the engine runs itself. */
  readonly controlQueue: Queue;
  /** How long a ref job sleeps before checking its target by itself, ms (default 30 s). */
  readonly refSafetyDelayMs: number;
  private readonly queuesByName: Map<string, Queue>;

  constructor(readonly opts: SystemOptions) {
    const { prefix } = opts;
    this.refSafetyDelayMs = opts.refSafetyDelayMs ?? 30_000;
    // BullMQ needs maxRetriesPerRequest: null on connections its workers block on.
    this.redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: null, connectionName: 'switchyard' });
    // Run state gets its own connection: ioredis copies every script defined on a connection
    // into each pipeline, and BullMQ defines dozens on the one it uses.
    this.stateRedis = new Redis(opts.redisUrl, { maxRetriesPerRequest: null, connectionName: 'switchyard-state' });
    const connection = this.redis;
    this.flowProducer = new FlowProducer({ connection, prefix });
    this.agentQueues = new Map(opts.registry.names().map((a) => [a, new Queue(agentQueueName(a), { connection, prefix })]));
    this.runQueue = new Queue(RUN_QUEUE, { connection, prefix });
    this.refQueue = new Queue(REF_QUEUE, { connection, prefix });
    this.scheduleQueue = new Queue(SCHEDULE_QUEUE, { connection, prefix });
    this.controlQueue = new Queue(CONTROL_QUEUE, { connection, prefix });
    this.queuesByName = new Map(this.allQueues().map((q) => [q.name, q]));
    this.policy = stepPolicy(opts.registry);
    this.store = new RunStore({ redis: this.stateRedis, prefix, retentionSeconds: opts.retentionSeconds, outbox: opts.outbox, logger: opts.logger });
    this.control = new RunControl({ store: this.store, refQueue: this.refQueue, queue: (name) => this.queuesByName.get(name), logger: opts.logger });
    this.runs = new RunsService({
      store: this.store,
      flowProducer: this.flowProducer,
      registry: opts.registry,
      workflows: opts.workflows,
      control: this.control,
      policy: this.policy,
      logger: opts.logger,
      refSafetyDelayMs: this.refSafetyDelayMs,
      ...(opts.archive ? { archive: opts.archive } : {}),
    });
    this.schedules = new SchedulesService({ queue: this.scheduleQueue, workflows: opts.workflows, logger: opts.logger });
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

  /** Every queue, for Bull Board. */
  allQueues(): Queue[] {
    return [...this.agentQueues.values(), this.runQueue, this.refQueue, this.controlQueue, this.scheduleQueue];
  }

  agentQueue(agent: string): Queue {
    return this.queue(agentQueueName(agent));
  }

  /** A queue by name (`agent.<name>`, `control`, `runs`, `refs`, `schedules`). */
  queue(name: string): Queue {
    const q = this.queuesByName.get(name);
    if (!q) throw new Error(`no queue "${name}"`);
    return q;
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.store.close();
    await Promise.all([this.flowProducer.close(), ...this.allQueues().map((q) => q.close())]);
    await Promise.all([this.redis.quit().catch(() => this.redis.disconnect()), this.stateRedis.quit().catch(() => this.stateRedis.disconnect())]);
  }
}

/**
 * A System from agents and workflows given in code rather than files (tests, benchmarks,
 * embedding): the same validation as agents.yaml and flows/ apply.
 */
export function systemFromDefinitions(opts: {
  config: Config;
  /** The `agents:` map of an agents file. */
  agents: Record<string, unknown>;
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
  const registry = resolveAgents({ agents: opts.agents }, opts.config, `${opts.source} agents`);
  const named = new Map<string, CompiledWorkflow>();
  for (const def of opts.workflows ?? []) {
    const wf = compileWorkflow(def, { agents: registry.names(), source: opts.source, limits: opts.config.limits });
    named.set(wf.name, wf);
  }
  return new System({
    redisUrl: opts.config.redisUrl,
    prefix: opts.config.prefix,
    retentionSeconds: opts.retentionSeconds ?? opts.config.retentionSeconds,
    registry,
    workflows: new WorkflowCatalog(named, () => registry.names(), opts.config.limits),
    logger: opts.logger,
    outbox: opts.outbox ?? false,
    ...(opts.archive ? { archive: opts.archive } : {}),
    ...(opts.refSafetyDelayMs ? { refSafetyDelayMs: opts.refSafetyDelayMs } : {}),
  });
}
