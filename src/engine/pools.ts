/**
 * Worker pools: one BullMQ Worker per agent type (its concurrency, limiter, attempts and
 * backoff come from the agents file), plus the internal workers (the engine's own steps, run
 * roots, refs, schedules), the cancellation listener and the watchdog that ends runs whose
 * root job failed.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { QueueEvents, Worker, type Job, type WorkerOptions } from 'bullmq';
import { loadTokenizers } from '../calls/token-estimate.js';
import { RedisLimiter } from '../calls/admission/limiter.js';
import { CallPipeline } from '../calls/pipeline.js';
import { DEFAULT_MAX_PAUSE_MS } from '../calls/admission/pause.js';
import type { Provider } from '../calls/provider.js';
import { CONTROL_QUEUE, REF_QUEUE, RUN_QUEUE, SCHEDULE_QUEUE, agentQueueName, keys, parseCancelMessage, stepJobId } from '../store/keys.js';
import { scopeOf } from '../store/scope.js';
import type { StepJobData } from '../flow/flow-builder.js';
import { watched, type System } from '../system.js';
import { ActiveJobs } from './active-jobs.js';
import type { Executors } from '../kinds/executor.js';
import { createExecutors, type ReadRuns } from '../kinds/index.js';
import { compilePlan } from '../compile/plan.js';
import { createRefProcessor } from '../flow/ref-processor.js';
import { createRunProcessor } from '../flow/run-processor.js';
import { createScheduleProcessor } from '../schedules/schedule-processor.js';
import { sweepQueued } from '../flow/sweeper.js';
import { createStepProcessor } from './step-machine.js';
import { endFailedRun, endFailedStep, type FailedJobDeps } from '../flow/failed-jobs.js';

/** A limiter that never limits by itself (see the agent workers below). */
const UNLIMITED = { max: 1_000_000_000, duration: 1000 };

/**
 * BullMQ fails a job that stalled more than this; the step machine counts an interrupted
 * attempt as an attempt and stops at the step's own `attempts` (at most 100), so BullMQ's
 * limit must never be the one that is reached.
 */
const STEP_MAX_STALLED = 1000;
/** How often a step worker whose queue is rate limited looks whether the limit was lifted, ms. */
const RATE_LIMIT_RECHECK_MS = 1000;

export interface WorkerPoolsOptions {
  /** Agent types to serve (all when omitted). */
  agents?: readonly string[];
  /** Run the internal workers (engine steps, runs, refs, schedules, watchdog). Default true. */
  internal?: boolean;
  /** Replace a provider (tests). */
  providerFor?: (agent: string) => Provider;
  /** Replace executors (tests): every kind not given keeps its own. */
  executors?: (defaults: Executors) => Partial<Executors>;
  /**
   * BullMQ lock and stalled-check timing of the step workers, ms (tests shorten them to
   * exercise crash recovery). @default the system's (SWITCHYARD_LOCK_DURATION_MS, SWITCHYARD_STALLED_INTERVAL_MS)
   */
  stalled?: { lockDuration: number; stalledInterval: number };
  /** How a step's result write is retried on Redis errors (see StepMachineDeps.recordRetry). */
  recordRetry?: { tries: number; firstDelayMs: number };
  /** The sweeper of runs whose jobs were never added (internal workers only). @default {everyMs: 30000, graceMs: 60000} */
  sweep?: { everyMs: number; graceMs: number };
}

export interface WorkerPools {
  workers: Worker[];
  /** Graceful: stop taking jobs, let in-flight steps finish (waiting up to `timeoutMs`; what is left is recovered by the stalled check). */
  close(timeoutMs?: number): Promise<void>;
}

export async function startWorkerPools(system: System, opts: WorkerPoolsOptions = {}): Promise<WorkerPools> {
  const { registry, logger, cell } = system;
  const { store, control } = system.engine;
  const prefix = cell.tag;
  const connection = system.engine.redis;
  const names = opts.agents ?? registry.names();
  // The tokenizers its calls' estimates count with load now (about 200 ms), not in a first call.
  loadTokenizers(
    names.flatMap((n) => [registry.require(n), ...(registry.require(n).fallbacks ?? [])]).flatMap((a) => (a.provider === 'echo' ? [] : [a.model])),
  );
  const internal = opts.internal ?? true;

  const maxPauseMs = system.opts.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS;
  // Every provider call goes through the pipeline (src/calls/pipeline.ts): admission (the run's
  // budget, the shared limiter), then the agent's fallbacks.
  const pipeline = new CallPipeline({
    limiter: new RedisLimiter(connection, prefix, registry.limits),
    plan: registry.limits,
    ledger: store.budgets,
    cell,
    prices: registry.prices,
    logger,
    onCircuitOpened: (scope) => system.metrics.circuitOpened(scope),
    maxPauseMs,
  });
  const providerFor = opts.providerFor ?? ((agent: string) => pipeline.forAgent(registry.require(agent)));
  const readRuns: ReadRuns = async ({ workspaceId, agent, workflow, limit }) => {
    const { runs } = await system.engine.queries.list(scopeOf(cell, workspaceId), {
      status: 'succeeded',
      include: ['output'],
      limit,
      ...(agent ? { agent } : {}),
      ...(workflow ? { workflow } : {}),
    });
    return runs.map((r) => ({ id: r.id, workflow: r.workflow, status: r.status, agents: r.agents, finishedAt: r.finishedAt, output: r.output ?? null }));
  };
  const defaults = createExecutors({ registry, providerFor, readRuns, schemas: system.schemas, compilePlan });
  const executors: Executors = { ...defaults, ...opts.executors?.(defaults) };

  const active = new ActiveJobs();
  /** The workers that run steps (agent pools, the engine's own steps); closed before the internal ones. */
  const stepWorkers: Worker[] = [];
  const internalWorkers: Worker[] = [];
  // A worker reports every failed reconnect while Redis is down: one line per worker per 30 s.
  const workerError = (queue: string) => {
    let last = 0;
    return (err: Error) => {
      if (Date.now() - last < 30_000) return;
      last = Date.now();
      logger.error({ queue, err: err.message }, 'worker error');
    };
  };
  const failedDeps: FailedJobDeps = { store, control, cell, queue: (name) => system.queue(name) };
  const onFailed = (job: Job<StepJobData> | undefined, err: Error) => {
    logger.debug({ queue: job?.queueName, jobId: job?.id, err: err.message }, 'job failed');
    // A run's only job that failed for good ends its run, as the watchdog does for a root job.
    if (job?.data?.standalone && job.finishedOn) {
      endFailedStep(failedDeps, scopeOf(cell, job.data.workspaceId), job.data.runId, job.data.step, err.message, true).catch((e: Error) =>
        logger.error({ runId: job.data.runId, err: e.message }, 'could not end the run of a failed job'),
      );
    }
  };
  const stepWorker = (queueName: string, workerOpts: Omit<WorkerOptions, 'connection' | 'prefix'>) => {
    const processor = createStepProcessor({
      store,
      control,
      cell,
      executors,
      policy: system.policy,
      flowProducer: system.engine.flowProducer,
      refSafetyDelayMs: system.refSafetyDelayMs,
      active,
      logger,
      worker: () => worker,
      queue: system.queue(queueName),
      queueByName: (name) => system.queue(name),
      prices: registry.prices,
      authorityOf: (agent) => registry.authorityOf(agent),
      metrics: system.metrics,
      ...(system.opts.maxDebugBytes !== undefined ? { maxDebugBytes: system.opts.maxDebugBytes } : {}),
      maxPauseMs,
      ...(opts.recordRetry ? { recordRetry: opts.recordRetry } : {}),
      ...(system.opts.bounds ? { bounds: system.opts.bounds } : {}),
    });
    // A queue paused after a 429 is looked at again every second (not BullMQ's 30 s), so a pause
    // an admin lifts (POST /v1/limits/:scope/resume) lets its steps go on at once.
    const worker = new Worker<StepJobData>(queueName, processor, {
      connection,
      prefix,
      maxStalledCount: STEP_MAX_STALLED,
      maximumRateLimitDelay: RATE_LIMIT_RECHECK_MS,
      ...(opts.stalled ?? system.stalled),
      ...workerOpts,
    });
    worker.on('failed', onFailed);
    worker.on('error', workerError(queueName));
    stepWorkers.push(worker);
  };

  for (const name of names) {
    const agent = registry.require(name);
    stepWorker(agentQueueName(name), {
      concurrency: agent.concurrency,
      // The agent's `rateLimit` is held by the shared limiter, per call (a step that waits for it
      // takes no slot of anything). A limiter anyway: BullMQ honours a manual rate limit
      // (queue.rateLimit after a 429) only on queues that have one.
      limiter: UNLIMITED,
    });
  }

  let watchdog: QueueEvents | undefined;
  // Its blocking reads need a connection of their own, which BullMQ leaves to its owner to close.
  let watchConnection: ReturnType<typeof connection.duplicate> | undefined;
  if (internal) {
    // A limiter here too: a step that is rate limited waits out queue.rateLimit only then.
    stepWorker(CONTROL_QUEUE, { concurrency: 16, limiter: UNLIMITED });
    const more = [
      new Worker(RUN_QUEUE, createRunProcessor({ store, control, cell, logger }), {
        connection,
        prefix,
        concurrency: 16,
        maxStalledCount: 10,
        ...system.stalled,
      }),
      new Worker(REF_QUEUE, createRefProcessor({ store, control, cell, queue: (q) => system.queue(q), safetyDelayMs: system.refSafetyDelayMs }), {
        connection,
        prefix,
        concurrency: 16,
        maxStalledCount: 10,
        ...system.stalled,
      }),
      new Worker(SCHEDULE_QUEUE, createScheduleProcessor({ submissions: system.engine.submissions, cell, logger }), {
        connection,
        prefix,
        concurrency: 4,
        ...system.stalled,
      }),
    ];
    for (const w of more) w.on('error', workerError(w.name));
    internalWorkers.push(...more);

    // A root job that failed (a required step's job failed, even without our handler running)
    // must still end its run, with the step that failed recorded as failed.
    watchdog = new QueueEvents(RUN_QUEUE, { connection: (watchConnection = watched(connection.duplicate(), logger)), prefix });
    // Its connection's errors are logged by `watched` (once per outage).
    watchdog.on('error', () => undefined);
    watchdog.on('failed', ({ jobId, failedReason }) => {
      endFailedRun(failedDeps, jobId, failedReason).catch((err: Error) => logger.error({ runId: jobId, err: err.message }, 'watchdog could not end run'));
    });
    await watchdog.waitUntilReady();
  }

  // Cancellation from any process: abort this process's running steps of the run.
  const subscriber = watched(connection.duplicate(), logger);
  await subscriber.subscribe(keys.cancelChannel(cell));
  subscriber.on('message', (_channel: string, message: string) => {
    const { workspace, runId, stepIds } = parseCancelMessage(message);
    const n = stepIds.length
      ? active.cancelRun(
          { workspace },
          runId,
          'step cancelled',
          stepIds.map((s) => stepJobId(runId, s)),
        )
      : active.cancelRun({ workspace }, runId, 'run cancelled');
    if (n > 0)
      logger.info(
        { runId, aborted: n, ...(stepIds.length ? { steps: stepIds } : {}) },
        stepIds.length ? 'aborted cancelled steps' : 'aborted running steps of a cancelled run',
      );
  });

  const workers = [...stepWorkers, ...internalWorkers];
  await Promise.all(workers.map((w) => w.waitUntilReady()));

  // Heartbeats: which queues this process serves (why a step waits, /readyz), and its BullMQ
  // workers (whose ids its job locks carry: a step whose process stopped beating is lost).
  const processId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const served = stepWorkers.map((w) => w.name);
  const workerIds = workers.map((w) => w.id);
  const beat = () => system.engine.heartbeats.beat(processId, served, workerIds).catch((err: unknown) => logger.debug({ err }, 'heartbeat failed'));
  await beat();
  let beating: Promise<unknown> = Promise.resolve();
  const heartbeat = setInterval(() => {
    beating = beat();
  }, system.engine.heartbeats.heartbeatMs);
  heartbeat.unref();
  // The sweeper (with the internal workers): runs whose jobs were never added end `failed`.
  let sweeping: Promise<unknown> | undefined;
  const sweepDeps = { store, control, cell, queue: (name: string) => system.queue(name), logger, graceMs: opts.sweep?.graceMs ?? 60_000 };
  const sweeper = internal
    ? setInterval(() => {
        sweeping ??= sweepQueued(sweepDeps)
          .catch((err: unknown) => logger.debug({ err }, 'sweep failed'))
          .finally(() => (sweeping = undefined));
      }, opts.sweep?.everyMs ?? 30_000)
    : undefined;
  sweeper?.unref();
  logger.info({ agents: names, internal }, 'worker pools started');

  return {
    workers,
    async close(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      clearInterval(heartbeat);
      clearInterval(sweeper);
      // Bounded: during an outage the engine's connection would wait for Redis.
      await withDeadline(
        Promise.all([beating, sweeping]).then(() => system.engine.heartbeats.leave(processId)),
        deadline,
      );
      const closeAll = async (list: Worker[], what: string) => {
        const graceful = Promise.all(list.map((w) => w.close()));
        if (!(await withDeadline(graceful, deadline))) {
          // BullMQ's close(true) after a close() under way only waits for that one: stop waiting
          // instead (bounded), and let the jobs still held be recovered by the stalled check.
          logger.warn({ timeoutMs }, `${what} did not finish in time; not waiting for them any longer (they will be retried)`);
          await withDeadline(graceful, Date.now() + 1_000);
        }
      };
      // Steps first: the runs they finish (root jobs), refs they wake, still get settled by
      // this process's internal workers before those close.
      await closeAll(stepWorkers, 'in-flight steps');
      if (internalWorkers.length) {
        await withDeadline(settleQueued(system, deadline), Math.min(deadline, Date.now() + 2_000));
        await closeAll(internalWorkers, 'run roots and refs');
      }
      const soon = () => Date.now() + 2_000;
      await withDeadline(watchdog?.close() ?? Promise.resolve(), soon());
      await withDeadline(watchConnection?.quit() ?? Promise.resolve(), soon());
      watchConnection?.disconnect();
      await withDeadline(subscriber.quit(), soon());
      subscriber.disconnect();
    },
  };
}

/**
 * `work`, or nothing once `deadline` (ms) has passed: a stop never waits on an outage for long.
 * True when `work` settled in time.
 */
async function withDeadline(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), Math.max(0, deadline - Date.now())))),
  ]);
  clearTimeout(timer);
  return settled;
}

/**
 * Wait (until `deadline`) for the root and ref jobs made ready by the last steps to be taken,
 * so a graceful stop does not leave a run `running` with all its steps done.
 */
async function settleQueued(system: System, deadline: number): Promise<void> {
  // A busy queue (other processes' runs) must not hold the stop for long: at most 2 s.
  const until = Math.min(deadline, Date.now() + 2_000);
  for (const name of [RUN_QUEUE, REF_QUEUE]) {
    const queue = system.queue(name);
    while (Date.now() < until) {
      const counts = await queue.getJobCounts('wait', 'prioritized');
      if ((counts.wait ?? 0) + (counts.prioritized ?? 0) === 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
