/**
 * Worker pools: one BullMQ Worker per agent type (its concurrency, limiter, attempts and
 * backoff come from the agents file), plus the internal workers (runs, refs, schedules), the
 * cancellation listener and the watchdog that ends runs whose root job failed.
 */
import { QueueEvents, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createProvider } from '../src/providers/index.js';
import type { Provider } from '../src/providers/provider.js';
import { RUN_QUEUE, REF_QUEUE, SCHEDULE_QUEUE, agentQueueName, keys } from '../src/runs/keys.js';
import type { System } from '../src/system.js';
import { ActiveJobs } from './active-jobs.js';
import { createRefProcessor } from './ref-processor.js';
import { createRunProcessor } from './run-processor.js';
import { createScheduleProcessor } from './schedule-processor.js';
import { createStepProcessor } from './step-processor.js';

/** A limiter that never limits by itself (see the agent workers below). */
const UNLIMITED = { max: 1_000_000_000, duration: 1000 };

export interface WorkerPoolsOptions {
  /** Agent types to serve (all when omitted). */
  agents?: readonly string[];
  /** Run the internal workers (runs, refs, schedules, watchdog). Default true. */
  internal?: boolean;
  /** Replace a provider (tests). */
  providerFor?: (agent: string) => Provider;
}

export interface WorkerPools {
  workers: Worker[];
  /** Graceful: stop taking jobs, let in-flight steps finish (up to `timeoutMs`, then force). */
  close(timeoutMs?: number): Promise<void>;
}

export async function startWorkerPools(system: System, opts: WorkerPoolsOptions = {}): Promise<WorkerPools> {
  const { registry, logger, store, control } = system;
  const { prefix } = system.opts;
  const connection = system.redis;
  const names = opts.agents ?? registry.names();
  for (const n of names) registry.require(n);

  const providers = new Map<string, Provider>();
  const providerFor =
    opts.providerFor ??
    ((agent: string) => {
      let p = providers.get(agent);
      if (!p) providers.set(agent, (p = createProvider(registry.require(agent))));
      return p;
    });

  const active = new ActiveJobs();
  const workers: Worker[] = [];
  const onFailed = (job: Job | undefined, err: Error) =>
    logger.debug({ queue: job?.queueName, jobId: job?.id, err: err.message }, 'job failed');

  for (const name of names) {
    const agent = registry.require(name);
    let worker!: Worker;
    const processor = createStepProcessor({ store, control, registry, providerFor, active, logger, worker: () => worker, queue: system.agentQueue(name) });
    worker = new Worker(agentQueueName(name), processor, {
      connection,
      prefix,
      concurrency: agent.concurrency,
      // Always a limiter: BullMQ honours a manual rate limit (queue.rateLimit after a 429) only
      // on queues that have one, and then in every process serving the queue.
      limiter: agent.rateLimit ? { max: agent.rateLimit.max, duration: agent.rateLimit.durationMs } : UNLIMITED,
    });
    worker.on('failed', onFailed);
    worker.on('error', (err) => logger.error({ agent: name, err: err.message }, 'worker error'));
    workers.push(worker);
  }
  // A step's result is written ahead of its job's completion on the connection BullMQ
  // completes jobs on (RunStore.transitionStepAhead); that ordering needs the very same one.
  // (BullMQ wraps the connection in a proxy: compare the socket underneath.) Checked before
  // anything else is opened, so a failure has only these workers to close.
  for (const w of workers) {
    const client = (await w.getBackend().client) as unknown as { stream?: unknown };
    if (!client.stream || client.stream !== connection.stream) {
      await Promise.all(workers.map((x) => x.close(true)));
      throw new Error(`worker "${w.name}" does not use the system's Redis connection for its commands; step results could reach Redis after their jobs complete`);
    }
  }

  let watchdog: QueueEvents | undefined;
  if (opts.internal ?? true) {
    workers.push(
      new Worker(RUN_QUEUE, createRunProcessor({ store, logger }), { connection, prefix, concurrency: 16 }),
      new Worker(REF_QUEUE, createRefProcessor({ store, control, agentQueue: (a) => system.agentQueue(a), safetyDelayMs: system.refSafetyDelayMs }), { connection, prefix, concurrency: 16 }),
      new Worker(SCHEDULE_QUEUE, createScheduleProcessor({ runs: system.runs, logger }), { connection, prefix, concurrency: 4 }),
    );
    for (const w of workers.slice(-3)) w.on('error', (err) => logger.error({ queue: w.name, err: err.message }, 'worker error'));

    // A root job that failed (a required child failed, even without our handler running, e.g.
    // stalled past its limit) must still end its run.
    watchdog = new QueueEvents(RUN_QUEUE, { connection, prefix });
    watchdog.on('failed', ({ jobId, failedReason }) => {
      control
        .halt(jobId, 'failed', { error: failedReason, reason: 'run failed' })
        .catch((err: Error) => logger.error({ runId: jobId, err: err.message }, 'watchdog could not end run'));
    });
    await watchdog.waitUntilReady();
  }

  // Cancellation from any process: abort this process's running steps of the run.
  const subscriber = connection.duplicate();
  await subscriber.subscribe(keys.cancelChannel(prefix));
  subscriber.on('message', (_channel: string, runId: string) => {
    const n = active.cancelRun(runId, 'run cancelled');
    if (n > 0) logger.info({ runId, aborted: n }, 'aborted running steps of a cancelled run');
  });

  await Promise.all(workers.map((w) => w.waitUntilReady()));
  logger.info({ agents: names, internal: opts.internal ?? true }, 'worker pools started');

  return {
    workers,
    async close(timeoutMs = 30_000) {
      const graceful = Promise.all(workers.map((w) => w.close()));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        logger.warn({ timeoutMs }, 'in-flight steps did not finish in time; forcing close (they will be retried)');
        await Promise.all(workers.map((w) => w.close(true)));
      }
      await watchdog?.close();
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}
