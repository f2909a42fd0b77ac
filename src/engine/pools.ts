/**
 * Worker pools: one BullMQ Worker per agent type (its concurrency, limiter, attempts and
 * backoff come from the agents file) and the engine's own steps (step-workers.ts), plus the
 * internal workers (run roots, refs, schedules) and the watchdog (internal-workers.ts), the
 * cancellation listener (cancel-listener.ts), and the heartbeat and sweeper (heartbeat.ts). The
 * queues of workspaces' own agents are served as they are created (workspace-agents-watch.ts).
 */
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadTokenizers } from '../calls/token-estimate.js';
import { CONTROL_QUEUE, REF_QUEUE, RUN_QUEUE, agentQueueName } from '../store/keys.js';
import type { System } from '../system.js';
import { ActiveJobs } from './active-jobs.js';
import { listenForCancels } from './cancel-listener.js';
import { startTimers, type ProcessTimers } from './heartbeat.js';
import { startInternalWorkers, type InternalWorkers } from './internal-workers.js';
import type { WorkerPoolsOptions } from './pool-options.js';
import { UNLIMITED, stepWorkerFactory } from './step-workers.js';
import { WorkspaceAgentsWatch } from './workspace-agents-watch.js';

export type { WorkerPoolsOptions } from './pool-options.js';

export interface WorkerPools {
  workers: Worker[];
  /** Graceful: stop taking jobs, let in-flight steps finish (waiting up to `timeoutMs`; what is left is recovered by the stalled check). */
  close(timeoutMs?: number): Promise<void>;
}

export async function startWorkerPools(system: System, opts: WorkerPoolsOptions = {}): Promise<WorkerPools> {
  const { registry, logger } = system;
  const names = opts.agents ?? registry.names();
  // The tokenizers its calls' estimates count with load now (about 200 ms), not in a first call.
  loadTokenizers(
    names.flatMap((n) => [registry.require(n), ...(registry.require(n).fallbacks ?? [])]).flatMap((a) => (a.provider === 'echo' ? [] : [a.model])),
  );
  const internal = opts.internal ?? true;
  const active = new ActiveJobs();
  // The workspaces' own agents: a step reads its workspace's as it begins; their queues are
  // served as they are created (see workspace-agents-watch.ts).
  const watch = new WorkspaceAgentsWatch({
    agents: system.engine.agents,
    shared: registry,
    cell: system.cell,
    logger,
    serve: async (name, concurrency) => {
      const queueName = agentQueueName(name);
      const serving = stepWorkers.find((w) => w.name === queueName);
      if (serving) serving.concurrency = concurrency;
      else {
        const worker = stepWorker(queueName, { concurrency, limiter: UNLIMITED });
        stepWorkers.push(worker);
        await worker.waitUntilReady();
        logger.info({ queue: queueName, concurrency }, 'serving a workspace agent');
        await timers.beat();
      }
    },
  });
  const stepWorker = stepWorkerFactory(system, opts, active, (scope, step) => Promise.resolve(watch.agentsFor(scope, step)));
  /** The workers that run steps (agent pools, the engine's own steps); closed before the internal ones. */
  const stepWorkers: Worker[] = names.map((name) =>
    stepWorker(agentQueueName(name), {
      concurrency: registry.require(name).concurrency,
      // The agent's `rateLimit` is held by the shared limiter, per call (a step that waits for it
      // takes no slot of anything). A limiter anyway: BullMQ honours a manual rate limit
      // (queue.rateLimit after a 429) only on queues that have one.
      limiter: UNLIMITED,
    }),
  );
  // A limiter here too: a step that is rate limited waits out queue.rateLimit only then.
  if (internal) stepWorkers.push(stepWorker(CONTROL_QUEUE, { concurrency: 16, limiter: UNLIMITED }));
  const inside = internal ? await startInternalWorkers(system, { webhookBackoffMs: opts.webhookBackoffMs, stalled: opts.stalled }) : undefined;
  const serveOwn = opts.workspaceAgents ?? opts.agents === undefined;
  const subscriber = await listenForCancels(system, active, serveOwn ? () => void watch.refresh() : undefined);

  const others = inside?.workers ?? [];
  await Promise.all([...stepWorkers, ...others].map((w) => w.waitUntilReady()));
  const timers = await startTimers(system, { steps: stepWorkers, others }, internal ? { everyMs: 30_000, graceMs: 60_000, ...opts.sweep } : undefined);
  logger.info({ agents: names, internal }, 'worker pools started');
  if (serveOwn) await watch.start();
  return {
    get workers() {
      return [...stepWorkers, ...others];
    },
    close: (timeoutMs = 30_000) => closePools(system, { stepWorkers, inside, subscriber, timers, watch }, timeoutMs),
  };
}

/**
 * The pools of every cell this process serves (`cells`: their indexes, default all), each on its
 * cell's System: its own heartbeat, sweeper, cancel listener and internal workers.
 */
export async function startCellPools(system: System, cells: readonly number[] | undefined, opts: WorkerPoolsOptions = {}): Promise<WorkerPools> {
  const served = cells ? cells.map((i) => system.cells[i]!) : system.cells;
  const started: WorkerPools[] = [];
  try {
    for (const cell of served) started.push(await startWorkerPools(cell, opts));
  } catch (err) {
    await Promise.all(started.map((p) => p.close(1_000).catch(() => undefined)));
    throw err;
  }
  if (started.length === 1) return started[0]!;
  return {
    get workers() {
      return started.flatMap((p) => p.workers);
    },
    close: async (timeoutMs) => void (await Promise.all(started.map((p) => p.close(timeoutMs)))),
  };
}

/**
 * Close a process's pools: its timers, then the step workers (waiting up to `timeoutMs` for the
 * steps in flight), then the internal workers once the root and ref jobs those steps made ready
 * are taken, then the watchdog and the cancel listener.
 */
async function closePools(
  system: System,
  pools: { stepWorkers: Worker[]; inside: InternalWorkers | undefined; subscriber: Redis; timers: ProcessTimers; watch: WorkspaceAgentsWatch },
  timeoutMs: number,
): Promise<void> {
  const { stepWorkers, inside, subscriber, timers, watch } = pools;
  const deadline = Date.now() + timeoutMs;
  timers.stop();
  // No workspace agent's worker starts once the stop has begun (one starting now is awaited).
  await withDeadline(watch.stop(), deadline);
  // Bounded: during an outage the engine's connection would wait for Redis.
  await withDeadline(timers.leave(), deadline);
  const closeAll = async (list: Worker[], what: string) => {
    const graceful = Promise.all(list.map((w) => w.close()));
    if (!(await withDeadline(graceful, deadline))) {
      // BullMQ's close(true) after a close() under way only waits for that one: stop waiting
      // instead (bounded), and let the jobs still held be recovered by the stalled check.
      system.logger.warn({ timeoutMs }, `${what} did not finish in time; not waiting for them any longer (they will be retried)`);
      await withDeadline(graceful, Date.now() + 1_000);
    }
  };
  // Steps first: the runs they finish (root jobs), refs they wake, still get settled by
  // this process's internal workers before those close.
  await closeAll(stepWorkers, 'in-flight steps');
  if (inside) {
    await withDeadline(settleQueued(system, deadline), Math.min(deadline, Date.now() + 2_000));
    await closeAll(inside.workers, 'run roots and refs');
  }
  const soon = () => Date.now() + 2_000;
  await withDeadline(inside?.watchdog.close() ?? Promise.resolve(), soon());
  await withDeadline(inside?.watchConnection.quit() ?? Promise.resolve(), soon());
  inside?.watchConnection.disconnect();
  await withDeadline(subscriber.quit(), soon());
  subscriber.disconnect();
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
