/**
 * The workers that run steps: one BullMQ Worker per agent type (its concurrency and limiter from
 * the agents file, or a workspace agent's record) and the engine's own `control` queue, each
 * running the step machine with the process's executors (their providers behind the call
 * pipeline).
 */
import { Worker, type Job, type WorkerOptions } from 'bullmq';
import { RedisLimiter } from '../calls/admission/limiter.js';
import { DEFAULT_MAX_PAUSE_MS } from '../calls/admission/pause.js';
import { CallPipeline } from '../calls/pipeline.js';
import { compilePlan } from '../compile/plan.js';
import { createOutbound } from '../net/outbound.js';
import { endFailedStep, type FailedJobDeps } from '../flow/failed-jobs.js';
import type { StepJobData } from '../flow/flow-builder.js';
import type { Executors } from '../kinds/executor.js';
import type { ResolvedAgent } from '../model/agent.js';
import { createExecutors, type ReadRuns } from '../kinds/index.js';
import { ResponseCacheStore } from '../store/response-cache.js';
import { scopeOf, type Scope } from '../store/scope.js';
import { runBudgetWarningNotice, type EventNotice } from '../webhooks/webhooks.js';
import type { System } from '../system.js';
import type { ActiveJobs } from './active-jobs.js';
import type { WorkerPoolsOptions } from './pool-options.js';
import { createStepProcessor, type StepMachineDeps } from './step-machine.js';
import { toolSources } from './tool-sources.js';

/**
 * A limiter that never limits by itself: BullMQ pauses a queue after `queue.rateLimit(ms)` (a
 * 429, to-bullmq.ts) only for workers with a limiter's `max` (its moveToActive reads the
 * limiter key's TTL only then; ADR 005 has the lines). Its cost: a GET per fetch, an INCR per
 * job, about 4k of the ~590k instructions BullMQ's scripts take per step job.
 */
export const UNLIMITED = { max: 1_000_000_000, duration: 1000 };

/**
 * BullMQ fails a job that stalled more than this; the step machine counts an interrupted
 * attempt as an attempt and stops at the step's own `attempts` (at most 100), so BullMQ's
 * limit must never be the one that is reached.
 */
const STEP_MAX_STALLED = 1000;
/** How often a step worker whose queue is rate limited looks whether the limit was lifted, ms. */
const RATE_LIMIT_RECHECK_MS = 1000;

/** The executors of this process: every provider call goes through the pipeline (src/calls/pipeline.ts). */
export function processExecutors(system: System, opts: WorkerPoolsOptions): Executors {
  const { registry, logger, cell } = system;
  // Admission (the run's budget, the shared limiter), then the agent's fallbacks.
  const notify = notifier(system);
  const pipeline = new CallPipeline({
    limiter: new RedisLimiter(system.engine.redis, system.global.tag, registry.limits),
    plan: registry.limits,
    ledger: system.engine.store.budgets,
    caps: system.engine.caps,
    cell,
    prices: registry.prices,
    logger,
    onCircuitOpened: (scope) => system.metrics.circuitOpened(scope),
    answers: new ResponseCacheStore(system.engine.redis),
    onCacheLookup: (agent, hit) => system.metrics.cacheLookup(agent, hit),
    maxPauseMs: system.opts.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS,
    // An envelope's 80% warning is audited once a day, besides the run's budget.warning event.
    onEnvelopeWarning: ({ runId, workspace, ...warning }) => {
      const data = { ...warning };
      void notify(scopeOf(cell, workspace), {
        id: `${runId}.budget.warning.${warning.day}.${warning.envelope.replaceAll(' ', '-')}`,
        type: 'budget.warning',
        runId,
        data,
      });
      system.audit
        .record({ action: 'envelope.warning', workspace, actor: { kind: 'system', id: 'envelope' }, target: runId, details: { ...warning } })
        .catch((err: unknown) => logger.error({ err: (err as Error).message, runId }, 'audit entry not recorded'));
    },
    // The run budget's own 80% warning, as a call's usage is counted (a cost or token budget).
    onRunWarning: (scope, runId, warning) => notify(scope, runBudgetWarningNotice(runId, warning)),
  });
  const { providerFor: given } = opts;
  const providerFor = given ? (agent: ResolvedAgent) => given(agent.name) : (agent: ResolvedAgent) => pipeline.forAgent(agent);
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
  // The one outbound HTTP client of the process (http steps), under the deployment's egress rules.
  const outbound = createOutbound({ egress: system.opts.egress ?? { production: false, allow: [] } });
  const tools = toolSources(system, { readRuns }, opts.tools);
  const defaults = createExecutors({ providerFor, tools, schemas: system.schemas, compilePlan, outbound, secrets: system.engine.secrets.lookup });
  return { ...defaults, ...opts.executors?.(defaults) };
}

/** A worker reports every failed reconnect while Redis is down: one line per worker per 30 s. */
export function workerError(system: System, queue: string): (err: Error) => void {
  let last = 0;
  return (err: Error) => {
    if (Date.now() - last < 30_000) return;
    last = Date.now();
    system.logger.error({ queue, err: err.message }, 'worker error');
  };
}

/**
 * Builds the step workers of a process, each over `queueName`, sharing its executors and its
 * running jobs; `agentsFor` gives a step the agents its workspace sees (workspace-agents-watch.ts).
 */
export function stepWorkerFactory(system: System, opts: WorkerPoolsOptions, active: ActiveJobs, agentsFor: StepMachineDeps['agentsFor']) {
  const { registry, logger, cell } = system;
  const { store, control } = system.engine;
  const executors = processExecutors(system, opts);
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
  return (queueName: string, workerOpts: Omit<WorkerOptions, 'connection' | 'prefix'>): Worker<StepJobData> => {
    const processor = createStepProcessor({
      store,
      caps: system.engine.caps,
      control,
      cell,
      executors,
      policy: system.policy,
      flowProducer: system.engine.flowProducer,
      refSafetyDelayMs: system.refSafetyDelayMs,
      active,
      logger,
      queue: system.queue(queueName),
      queueByName: (name) => system.queue(name),
      prices: registry.prices,
      authorityOf: (agent) => registry.authorityOf(agent),
      agentsFor,
      routing: system.engine.routing,
      metrics: system.metrics,
      ...(system.opts.maxDebugBytes !== undefined ? { maxDebugBytes: system.opts.maxDebugBytes } : {}),
      maxPauseMs: system.opts.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS,
      notify: notifier(system),
      ...(opts.recordRetry ? { recordRetry: opts.recordRetry } : {}),
      ...(system.opts.bounds ? { bounds: system.opts.bounds } : {}),
    });
    // A queue paused after a 429 is looked at again every second (not BullMQ's 30 s), so a pause
    // an admin lifts (POST /v1/limits/:scope/resume) lets its steps go on at once.
    const worker = new Worker<StepJobData>(queueName, processor, {
      connection: system.engine.redis,
      prefix: cell.tag,
      maxStalledCount: STEP_MAX_STALLED,
      maximumRateLimitDelay: RATE_LIMIT_RECHECK_MS,
      ...(opts.stalled ?? system.stalled),
      ...workerOpts,
    });
    worker.on('failed', onFailed);
    worker.on('error', workerError(system, queueName));
    return worker;
  };
}

/** Tell the webhooks of an event; a failure to queue is logged, never thrown into the step. */
export function notifier(system: System): (scope: Scope, notice: EventNotice) => Promise<void> {
  return async (scope, notice) => {
    try {
      await system.engine.webhooks.notify(scope, notice);
    } catch (err) {
      system.logger.error({ runId: notice.runId, event: notice.type, err: (err as Error).message }, 'could not queue webhook deliveries');
    }
  };
}
