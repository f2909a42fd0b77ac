/**
 * The processor of every step queue: one delivery of one step's job, in three rooms.
 *
 * 1. Begin and decide. One script reads the step (status, attempts, checkpoint), its run and
 *    the steps it reads, and on the fast path starts it. Otherwise `decide` (pure) says what
 *    to do: finish (already done: a finished step is never run again), mark lost dependencies,
 *    skip, fail, start an attempt (a recovered one when the last attempt's worker was lost),
 *    or resume after the steps it added.
 * 2. Execute. The step kind's executor does the work under an AbortSignal that fires on the
 *    step's timeout and on cancellation of the run. Thrown errors map to BullMQ by class:
 *    rate-limited → RateLimitError (no attempt burnt), not retryable or out of attempts →
 *    the failure is recorded, then UnrecoverableError; anything else → the job sleeps out its
 *    backoff (moveToDelayed, the step `retrying` until `retryAt`) and is retried.
 * 3. Record. A result is written durably (awaited, retried on Redis errors) before the job can
 *    complete, then the step's refs are promoted. A step that added steps to its run is parked
 *    in waiting-children (no worker slot held) and resumed when they have all finished.
 */
import { DelayedError, RateLimitError, UnrecoverableError, WaitingChildrenError, type FlowProducer, type Job, type Queue, type Worker } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BudgetExceededError,
  CancelledError,
  CapacityWaitError,
  NonRetryableError,
  RateLimitedError,
  RetryableError,
  StaleAttemptError,
  StepTimeoutError,
  ValidationError,
  toError,
} from '../errors/index.js';
import { DEFAULT_BOUNDS, DEFAULT_MAX_DEBUG_BYTES, type Bounds } from '../config/env.js';
import type { Logger } from '../logger.js';
import type { PriceTable } from '../calls/pricing.js';
import type { StepJobData } from '../flow/flow-builder.js';
import type { RunControl } from '../flow/run-control.js';
import type { RunStore } from '../store/run-store.js';
import { scopeOf, type Cell } from '../store/scope.js';
import { deliveryHolds, type StepCompleteReply, type StepTransition, type StepTransitionReply } from '../store/scripts/index.js';
import { isTransientWriteError } from '../store/reachable.js';
import type { StepPolicy } from '../flow/step-policy.js';
import type { Usage } from '../model/run.js';
import { LIVE_STEP_STATUSES, isTerminalRun, isTerminalStep, type StepStatus } from '../model/run.js';
import { ContextName, type CompiledStep, type StepKind } from '../kinds/definition.js';
import { parseOutputJson } from '../lang/templates.js';
import type { ContextPublish } from '../store/scripts/index.js';
import type { ActiveJobs } from './active-jobs.js';
import { retryDelayMs } from './backoff.js';
import { decide, type Decision } from './decide.js';
import type { ExecutionContext, Executors, StepExecutor, StepOutcome } from '../kinds/executor.js';
import { templateScope } from '../kinds/shared/scope.js';
import type { Metrics } from '../metrics/metrics.js';
import { DEFAULT_MAX_PAUSE_MS } from '../calls/admission/pause.js';
import { UsageMeter } from '../calls/usage-meter.js';
import { stepCalls } from '../calls/pipeline.js';
import { StepTrace } from './step-trace.js';
import { addChildSteps } from './growth.js';
import { outputTooLarge } from './output-bound.js';
import { countsTowardMaxSteps } from '../model/budget.js';
import { settleJoins } from '../flow/joins.js';
import { SETTLE, finishRun, markLost, stepFailedEnding } from '../flow/finish-run.js';

/**
 * What a step job returns to its parent: small; the output itself is stored once, in the run.
 * `status` is what this worker reported; the run state is authoritative.
 */
export interface StepEnvelope {
  stepId: string;
  status: StepStatus;
}

export interface StepMachineDeps {
  store: RunStore;
  control: RunControl;
  /** The cell whose queues it serves: a job's scope is this cell and its `workspaceId`. */
  cell: Cell;
  executors: Executors;
  policy: StepPolicy;
  flowProducer: FlowProducer;
  refSafetyDelayMs: number;
  active: ActiveJobs;
  logger: Logger;
  /** The worker running this processor (to cancel its jobs). Set after the Worker is built. */
  worker: () => Worker;
  /** The queue it serves (its rate limit is shared by every worker process). */
  queue: Queue;
  /** Any queue by name (the jobs of steps it adds). */
  queueByName: (name: string) => Queue;
  /** What tokens cost: a result's usage is recorded with its cost. */
  prices?: PriceTable;
  /** This process's metrics (step durations, tokens, cost, 429s, limiter waits). */
  metrics?: Metrics;
  /** An agent's authority (how it ranks as a writer of the run's context under `conflict: authority`). @default 1 */
  authorityOf?: (agent: string) => number;
  /** How a result write is retried on Redis errors. @default {tries: 8, firstDelayMs: 50} (about 6 s in all) */
  recordRetry?: { tries: number; firstDelayMs: number };
  /** Most bytes a step keeps of its last provider call and of its tool calls (SWITCHYARD_MAX_DEBUG_BYTES; 0: none). @default 32768 */
  maxDebugBytes?: number;
  /** What a step may render, produce and add (SWITCHYARD_MAX_*). @default DEFAULT_BOUNDS */
  bounds?: Bounds;
  /** The longest a 429 pauses the agent's queue (SWITCHYARD_MAX_PAUSE_MS). @default 5 minutes */
  maxPauseMs?: number;
}

const LIVE = LIVE_STEP_STATUSES;
/** How long a step that sleeps with no deadline (an approval gate without timeoutMs) stays delayed: ten years. */
const FOREVER_MS = 10 * 365 * 24 * 3600_000;

export function createStepProcessor(deps: StepMachineDeps) {
  const { store, control } = deps;
  const recordRetry = deps.recordRetry ?? { tries: 8, firstDelayMs: 50 };
  const bounds = deps.bounds ?? DEFAULT_BOUNDS;

  return async function processStep(job: Job<StepJobData>, token?: string, signal?: AbortSignal): Promise<StepEnvelope> {
    const { runId, step, refs } = job.data;
    const scope = scopeOf(deps.cell, job.data.workspaceId);
    // Built on first use: most steps log nothing, and a child logger per job is not free.
    let child: Logger | undefined;
    const log = () => (child ??= deps.logger.child({ runId, stepId: step.id, kind: step.kind, ...(step.agent ? { agent: step.agent } : {}), jobId: job.id }));
    const envelope = (status: StepStatus): StepEnvelope => ({ stepId: step.id, status });
    // A run's only job finishes its run whatever its ending (a no-op when the run had ended).
    const standalone = job.data.standalone === true;
    /** Steps were added to the run in this delivery (their jobs are this job's children). */
    let addedSteps = false;
    /** End this delivery with the step's status in force (`missing`: its run is gone). */
    const finish = async (status: StepStatus | 'missing'): Promise<StepEnvelope> => {
      // Its run ended before it could park for the steps it added: their jobs may still be
      // pending (added after the cancel looked for them), and BullMQ refuses to finish a job
      // with pending children. It parks for them now (they end at once), then ends for good.
      if (addedSteps && (await job.moveToWaitingChildren(token ?? ''))) throw new WaitingChildrenError();
      await control.promoteRefs(refs);
      if (step.joinOf && (status === 'succeeded' || status === 'failed' || status === 'skipped')) await settleJoins(deps, scope, runId, step.joinOf, log);
      if (standalone) await finishRun(deps, scope, runId, SETTLE);
      return envelope(status === 'missing' ? 'cancelled' : status);
    };
    const maxAttempts = job.opts.attempts ?? 1;
    const { deadline } = job.data;
    // Metrics: how long each attempt (or segment) took, and how it ended.
    let segmentStart = Date.now();
    const ended = (status: string) => deps.metrics?.stepEnded({ agent: step.agent, kind: step.kind, status, durationMs: Date.now() - segmentStart });
    // What this delivery's provider calls cost: recorded with each write that ends or parks it.
    const meter = new UsageMeter(deps.prices);
    if (deadline && Date.now() > deadline) return overBudget('budget exceeded: deadlineMs passed');

    // 1. Begin and decide.
    const readSet = new Set(step.reads);
    const begin = await store.steps.begin(scope, runId, step.id, {
      // A join other than `all` is decided in full: the fast path knows nothing of it.
      fast: step.when === undefined && step.join === undefined,
      deps: step.dependsOn,
      extra: step.reads.filter((id) => !step.dependsOn.includes(id)),
      needsOutput: (id) => readSet.has(id),
      maxAttempts,
      countsStep: countsTowardMaxSteps(step),
    });
    if (begin.mode === 'missing') return envelope('cancelled'); // run expired or removed
    if (begin.mode === 'over') return overBudget(begin.reason);
    let attempt = begin.attempts;
    // What it keeps to debug its calls: written, like what they cost, with each write it makes.
    const trace = new StepTrace(deps.maxDebugBytes ?? DEFAULT_MAX_DEBUG_BYTES, () => attempt);
    const { reads } = begin;
    let resumed = false;
    let resumedCheckpoint: unknown = null;
    /** waiting → running: the steps it added have all finished. */
    const resume = () =>
      store.steps.transition(scope, runId, step.id, { from: ['waiting'], to: 'running', fields: { reason: null }, event: { type: 'step.resumed' } });
    const runInput = (begin.runInput ?? {}) as Record<string, unknown>;
    if (begin.mode === 'read') {
      const deps0 = begin.reads.slice(0, step.dependsOn.length);
      let decision: Decision;
      for (;;) {
        decision = decide({
          step,
          maxAttempts,
          self: { status: begin.stepStatus, attempts: begin.attempts },
          run: { status: begin.runStatus },
          deps: deps0,
          scope: templateScope(runInput, begin.reads, undefined, bounds.maxRenderedBytes),
        });
        if (decision.action !== 'lost') break;
        // BullMQ only starts a job once its children are done: a dependency still live lost its
        // job without reporting (e.g. stalled past its limit). Record that, then decide again.
        for (const d of deps0) {
          if (!decision.deps.includes(d.stepId)) continue;
          // The status in force: failed, or what it reached at the same moment.
          d.status = await markLost(deps, scope, runId, d);
        }
      }
      switch (decision.action) {
        case 'finish':
          return finish(decision.status);
        case 'cancel':
          return finish('cancelled');
        case 'skip': {
          const { reason } = decision;
          await store.steps.transition(scope, runId, step.id, {
            from: LIVE,
            to: 'skipped',
            fields: { reason, finishedAt: now() },
            event: { type: 'step.skipped', data: { reason } },
          });
          return finish('skipped');
        }
        case 'fail':
          return failFinally(decision.error);
        case 'start': {
          const started = await store.steps.transition(scope, runId, step.id, {
            from: LIVE,
            to: 'running',
            attemptsDelta: 1,
            fields: { error: null, reason: null, retryAt: null, recovered: decision.recovered, ...(begin.startedAt ? {} : { startedAt: now() }) },
            event: { type: 'step.started', data: decision.recovered ? { recovered: true } : {} },
            countsStep: countsTowardMaxSteps(step),
          });
          if (started.over) return overBudget(started.over);
          if (!started.applied) return finish(started.status);
          attempt = started.attempts;
          if (decision.recovered) {
            log().warn({ attempt }, 'step recovered: its last attempt was cut short (worker lost)');
            await store.budgets.releaseHolds(scope, runId, { steps: [step.id], belowAttempt: attempt }, log());
          }
          break;
        }
        case 'resume': {
          // Found waiting: normally its children have all finished, but a worker lost between
          // recording `waiting` and parking the job leaves them running. Park it (again) then.
          if (await job.moveToWaitingChildren(token ?? '')) throw new WaitingChildrenError();
          const res = await resume();
          if (!res.applied) return finish(res.status);
          // What it waited for may have written its checkpoint after it was read above (an
          // approval gate's decision); the resume returns the one in force.
          resumedCheckpoint = res.checkpoint ?? null;
          resumed = true;
          break;
        }
      }
    }

    // 2 and 3. Execute, record; a step that waits for the steps it added goes round again.
    let checkpoint = resumed ? resumedCheckpoint : begin.checkpoint;
    const context = step.readsContext ? await store.records.contextValues(scope, runId, step.readsContext) : {};
    for (;;) {
      const outcome = await executeSegment();
      if (outcome === 'ended') return finish('cancelled');
      if (outcome.type === 'sleep') {
        const { reason, untilMs } = outcome;
        const retryAt = Number.isFinite(untilMs) ? new Date(untilMs).toISOString() : null;
        const parked = await transition({
          from: ['running'],
          to: 'waiting',
          attempt,
          fields: { reason, retryAt },
          event: { type: 'step.waiting', data: { reason, ...(retryAt ? { until: retryAt } : {}) } },
        });
        if (!parked.applied) return finish(parked.status);
        // Its job sleeps in the delayed set (no worker slot) until then, or until promoted.
        await job.moveToDelayed(Number.isFinite(untilMs) ? untilMs : Date.now() + FOREVER_MS, token);
        throw new DelayedError();
      }
      if (outcome.type === 'skipped') {
        const { reason } = outcome;
        const skipped = await transition({
          from: ['running'],
          to: 'skipped',
          attempt,
          fields: { reason, finishedAt: now() },
          event: { type: 'step.skipped', data: { reason } },
        });
        if (!skipped.applied) return finish(skipped.status);
        if (outcome.stopRun)
          await finishRun(deps, scope, runId, {
            how: 'halt',
            status: 'succeeded',
            reason: `the run stopped early: ${reason}`,
            output: { stoppedEarly: { step: step.id, reason } },
          });
        return finish('skipped');
      }
      if (outcome.type === 'succeeded') {
        // An output past SWITCHYARD_MAX_OUTPUT_BYTES is not stored: the step fails saying so.
        const tooLarge = outcome.reusedFrom ? undefined : outputTooLarge(outcome.output, bounds.maxOutputBytes);
        if (tooLarge) return failFinally(new NonRetryableError(tooLarge));
        const usage = meter.take();
        const recorded = await recordResult(outcome, usage);
        if (!recorded.recorded) {
          // `missing`: its run finished (and was compacted) or expired meanwhile: nowhere to keep it.
          if (recorded.status === 'missing')
            log().warn({ attempt, usage }, 'an answer came for a run that no longer holds its steps; its usage is not recorded');
          else log().debug({ status: recorded.status }, 'result kept as a late answer: the step had already ended');
          return finish(recorded.status);
        }
        ended('succeeded');
        if (recorded.budgetExceeded && !standalone) {
          // The run has spent past its budget: it stops, keeping every output recorded.
          await finishRun(deps, scope, runId, { how: 'halt', status: 'budget_exceeded', error: recorded.budgetExceeded, reason: recorded.budgetExceeded });
        }
        // Recorded with its run's finish when standalone: only refs and joins are left to tell.
        await control.promoteRefs(refs);
        if (step.joinOf) await settleJoins(deps, scope, runId, step.joinOf, log);
        return envelope('succeeded');
      }
      // Waiting for the steps it added. Recorded first, so that a resumed delivery is told apart
      // from a crashed one.
      const parked = await transition({
        from: ['running'],
        to: 'waiting',
        attempt,
        fields: { reason: 'waiting for the steps it added' },
        event: { type: 'step.waiting' },
      });
      if (!parked.applied) return finish(parked.status);
      if (await job.moveToWaitingChildren(token ?? '')) throw new WaitingChildrenError();
      // They had all finished already: go on in this delivery.
      const res = await resume();
      if (!res.applied) return finish(res.status);
      resumed = true;
    }

    /** The run's budget refused to start this step (maxSteps, its deadline): the run stops here, keeping every output recorded. */
    async function overBudget(reason: string): Promise<StepEnvelope> {
      await finishRun(deps, scope, runId, { how: 'halt', status: 'budget_exceeded', error: reason, reason });
      return finish('cancelled');
    }

    /** One segment of the step's work; 'ended' when it stopped because its run ended. */
    async function executeSegment(): Promise<StepOutcome | 'ended'> {
      segmentStart = Date.now();
      // A rerun's step upstream of where it reruns: its recorded output, no work done.
      if (step.reuse)
        return {
          type: 'succeeded',
          output: step.reuse.output,
          input: step.reuse.input ?? null,
          reusedFrom: step.reuse.runId,
          event: { reused: { runId: step.reuse.runId } },
        };
      const timeoutMs = deps.policy.timeoutMs(step);
      // One controller: fires on the step timeout, or when BullMQ cancels the job.
      const call = new AbortController();
      const timer = setTimeout(() => call.abort(new StepTimeoutError(timeoutMs)), timeoutMs);
      const onCancel = () => call.abort(signal?.reason);
      if (signal?.aborted) onCancel();
      else signal?.addEventListener('abort', onCancel, { once: true });
      const untrack = deps.active.track(scope, runId, deps.worker(), job.id!);
      let calls = 0;
      const ctx: ExecutionContext = {
        runId,
        workspaceId: job.data.workspaceId,
        attempt,
        runInput,
        reads,
        context,
        checkpoint,
        resumed,
        signal: call.signal,
        timeoutMs,
        bounds,
        callKey: (name) => `${runId}.${step.id}.${attempt}.${name ?? ++calls}`,
        log,
        saveCheckpoint: async (cp) => {
          const [paid, traced] = [meter.take(), trace.take()];
          if (!(await durably('the checkpoint', (writeId) => store.steps.checkpoint(scope, runId, step.id, attempt, cp, paid, writeId, traced)))) {
            throw new StaleAttemptError(`step "${step.id}" is no longer running attempt ${attempt}; its checkpoint was not saved`);
          }
          checkpoint = cp;
        },
        addSteps: (children) => {
          addedSteps = true;
          return addChildSteps(deps, job, attempt, children);
        },
        steps: (ids) => store.steps.get(scope, runId, ids),
        // Each call names its attempt: what it holds in the limiter and against the run's budget is released with it.
        metered: (provider) =>
          stepCalls(provider, {
            holder: { runId, workspaceId: scope.workspace, stepId: step.id, attempt, ...(job.data.budgeted ? { budgeted: true } : {}) },
            meter,
            trace: (p) => trace.around(p),
            metrics: deps.metrics ? { metrics: deps.metrics, agent: step.agent } : undefined,
          }),
        progress: (data) => {
          const warn = (what: string) => (err: unknown) => log().warn({ err: toError(err).message }, `could not record ${what}`);
          store.steps.progress(scope, runId, step.id, attempt, data).catch(warn('a step.progress event'));
          job.updateProgress({ attempt, ...data }).catch(warn('the job progress'));
        },
        record: (fields) => trace.record(fields),
      };
      try {
        return await (deps.executors[step.kind] as StepExecutor<StepKind>).execute(step, ctx);
      } catch (raw) {
        return await onError(toError(raw));
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onCancel);
        untrack();
      }

      async function onError(err: Error): Promise<'ended'> {
        if (err instanceof CancelledError || err instanceof StaleAttemptError || (signal?.aborted && !(err instanceof StepTimeoutError))) {
          // Its run ended, or the step itself was cancelled (a join met early no longer needs it).
          const [status, self] = await Promise.all([store.records.status(scope, runId), store.steps.state(scope, runId, step.id)]);
          if (status === null || isTerminalRun(status) || self === null || isTerminalStep(self.status)) {
            await keepPaid();
            await store.budgets.releaseHolds(scope, runId, deliveryHolds(step.id, attempt, self?.status ?? 'missing'), log());
            return 'ended';
          }
        }
        // Another worker runs the step now: leave its record alone.
        if (err instanceof StaleAttemptError) throw err;
        if (err instanceof BudgetExceededError) {
          // The call was not made: the run stops here, keeping every output recorded (and what
          // this step's earlier calls cost).
          await keepPaid();
          await finishRun(deps, scope, runId, { how: 'halt', status: 'budget_exceeded', error: err.message, reason: err.message });
          return 'ended';
        }
        if (err instanceof CapacityWaitError) {
          // Not admitted by the shared limiter: nothing was called. The attempt is given back and
          // the job sleeps in the delayed set (no worker slot) until capacity is expected.
          const retryAt = new Date(Date.now() + err.waitMs).toISOString();
          return retryLater(
            retryAt,
            {
              attemptsDelta: -1,
              fields: { reason: err.message, retryAt },
              event: { type: 'step.retrying', data: { reason: 'capacity', detail: err.message, retryAt } },
            },
            () => {
              log().info({ waitMs: err.waitMs, why: err.message }, 'step waits for provider capacity');
              deps.metrics?.limiterWait(step.agent, err.limit);
            },
          );
        }
        if (err instanceof RateLimitedError) {
          // The attempt is given back: a rate-limited call was never made. The queue waits at
          // most the pause cap (a longer Retry-After was a spent quota, see src/calls/admission/pause.ts).
          const pauseMs = Math.min(err.retryAfterMs, deps.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS);
          const event = { type: 'step.retrying', data: { reason: 'rate_limited', retryAfterMs: pauseMs } } as const;
          await transition({
            from: ['running'],
            to: 'retrying',
            attempt,
            attemptsDelta: -1,
            fields: { reason: `rate limited; retrying in ${pauseMs} ms` },
            event,
          });
          // The limiter logs the pause of the model once; this is one call of many.
          log().debug({ retryAfterMs: err.retryAfterMs }, 'provider rate limited; queue paused');
          deps.metrics?.providerRateLimited(step.agent);
          await deps.queue.rateLimit(pauseMs);
          throw new RateLimitError();
        }
        // The last attempt by the step's count or by BullMQ's (which also counts a delivery that
        // failed before an attempt started, e.g. on a Redis error).
        const last = attempt >= maxAttempts || job.attemptsMade + 1 >= maxAttempts;
        if (err instanceof NonRetryableError || err instanceof ValidationError || last) return failFinally(err);
        // The backoff is waited out here (not by BullMQ), so the step says when it goes on.
        const wait = retryDelayMs(job.opts.backoff, attempt);
        const retryAt = new Date(Date.now() + wait).toISOString();
        return retryLater(
          retryAt,
          { fields: { error: err.message, retryAt }, event: { type: 'step.retrying', data: { attempt, error: err.message, retryAt } } },
          () => {
            log().warn({ attempt, maxAttempts, err: err.message, retryAt }, 'step attempt failed; will retry');
            ended('retrying');
          },
        );
      }
    }

    /**
     * running → retrying (`t`), then the job sleeps in the delayed set until `retryAt`, holding no
     * worker slot; `parked` runs once the step says so. 'ended' when the transition did not apply
     * because its run ended meanwhile (the step is cancelled).
     */
    async function retryLater(retryAt: string, t: Pick<StepTransition, 'attemptsDelta' | 'fields' | 'event'>, parked: () => void): Promise<'ended'> {
      const res = await transition({ from: ['running'], to: 'retrying', attempt, ...t });
      if (!res.applied) {
        // Another worker took it over, or its run ended.
        if (res.status === 'running') throw staleAttempt(res);
        await store.budgets.releaseHolds(scope, runId, deliveryHolds(step.id, attempt, res.status), log());
        return 'ended';
      }
      parked();
      await job.moveToDelayed(Date.parse(retryAt), token);
      throw new DelayedError();
    }

    /**
     * What this delivery's calls cost and no write has recorded yet, kept on the step (and its
     * run, once finished) when the delivery ends without another write of its own.
     */
    async function keepPaid(): Promise<void> {
      const [paid, traced] = [meter.take(), trace.take()];
      if (paid || Object.keys(traced).length)
        await durably('what it paid for', (writeId) => store.steps.checkpoint(scope, runId, step.id, attempt, undefined, paid, writeId, traced));
    }

    /**
     * A change of the step's status by this delivery, with what its calls cost since its last
     * write (see durably).
     */
    function transition(t: Omit<StepTransition, 'usage' | 'writeId'>): Promise<StepTransitionReply> {
      const [usage, traced] = [meter.take(), trace.take()];
      return durably(`its ${t.to} status`, (writeId) =>
        store.steps.transition(scope, runId, step.id, { ...t, fields: { ...t.fields, ...traced }, usage, writeId }),
      );
    }

    /**
     * A write that records what this delivery did (and paid for), tried again on Redis errors
     * that may pass (isTransientWriteError) with one id, so that a try Redis applied but whose
     * reply was lost is not applied twice (`write` is given the id and the try, from 1). After
     * `recordRetry.tries` the job fails (RetryableError) and BullMQ delivers it again.
     */
    async function durably<T>(what: string, write: (writeId: string, tryNumber: number) => Promise<T>): Promise<T> {
      const writeId = randomUUID();
      for (let i = 1; ; i++) {
        try {
          return await write(writeId, i);
        } catch (err) {
          const error = toError(err);
          // A script error or a value Redis cannot take fails the same way every time.
          if (!isTransientWriteError(error)) throw error;
          if (i >= recordRetry.tries) {
            log().error({ err: error.message, tries: i }, `could not record ${what}; the job fails and is retried`);
            throw new RetryableError(`could not record ${what} of step "${step.id}": ${error.message}`);
          }
          log().warn({ err: error.message, try: i }, `could not record ${what}; trying again`);
          await sleep(recordRetry.firstDelayMs * 2 ** (i - 1));
        }
      }
    }

    /** This worker's attempt was taken over (`res`: the step's state in force). */
    function staleAttempt(res: { attempts: number }): StaleAttemptError {
      return new StaleAttemptError(`step "${step.id}" is on attempt ${res.attempts} now; this worker ran attempt ${attempt}`);
    }

    /** Write the result, retrying on Redis errors: the job must not complete before it is stored. */
    async function recordResult(outcome: Extract<StepOutcome, { type: 'succeeded' }>, usage: Usage | null): Promise<StepCompleteReply> {
      const published = step.toContext ? contextPublish(step, outcome.output, deps.authorityOf) : undefined;
      // The result's own input is the one recorded.
      const { input: _rendered, ...traced } = trace.take({ input: outcome.input ?? null, output: outcome.output });
      const result = {
        output: outcome.output,
        input: outcome.input ?? null,
        usage,
        model: outcome.model ?? null,
        ...(outcome.event ? { event: outcome.event } : {}),
        ...(outcome.reusedFrom ? { reusedFrom: outcome.reusedFrom } : {}),
        // A publish that names nothing writes nothing (no event).
        ...(published?.entries.length ? { publish: published } : {}),
        ...(Object.keys(traced).length ? { fields: traced } : {}),
      };
      return durably('the result', async (writeId, tries) => {
        const reply = await store.steps.complete(
          scope,
          runId,
          step.id,
          { ...result, callsCounted: job.data.budgeted === true, writeId },
          { finishRun: standalone },
        );
        if (tries > 1 && standalone && reply.status === 'missing') {
          // An earlier try may have finished (and compacted) the run, its reply lost: the run says.
          const held = (await store.records.get(scope, runId))?.steps.find((s) => s.stepId === step.id);
          if (held?.status === 'succeeded') return { recorded: true, status: 'succeeded' };
        }
        return reply;
      });
    }

    async function failFinally(err: Error): Promise<never> {
      const failed = await transition({
        from: LIVE,
        to: 'failed',
        attempt,
        fields: { error: err.message, finishedAt: now() },
        event: { type: 'step.failed', data: { error: err.message, attempts: attempt } },
      });
      ended('failed');
      if (!failed.applied && failed.status === 'running') throw staleAttempt(failed);
      // A halt that applies wakes every ref of the run, this step's among them.
      const halted = !step.optional && (await finishRun(deps, scope, runId, stepFailedEnding(step.id, err.message))).applied;
      if (!halted) await finish('failed');
      log().warn({ err: err.message, optional: step.optional }, 'step failed');
      throw new UnrecoverableError(err.message);
    }
  };
}

const now = () => new Date().toISOString();
/** Most names one result publishes (`publish: true` on an output with more fields keeps the first). */
const MAX_PUBLISHED = 1000;

/**
 * What a step with `publish` (compiled `toContext`) puts into its run's context: the named top-level fields of its
 * output (a text holding JSON is parsed), or all of them; a text without a JSON object, under
 * the step's id. A field the output lacks is not published.
 */
export function contextPublish(step: CompiledStep, output: unknown, authorityOf?: (agent: string) => number): ContextPublish {
  const spec = step.toContext!;
  const parsed = typeof output === 'string' ? parseOutputJson(output) : output;
  const object = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  let entries: [string, unknown][];
  if (typeof spec.fields === 'object' && !Array.isArray(spec.fields)) entries = [[spec.fields.as, output]];
  else if (!object) entries = spec.fields === 'all' ? [[step.id.replace(/\./g, '_'), output]] : [];
  else if (spec.fields === 'all') entries = Object.entries(object).filter(([k]) => ContextName.safeParse(k).success);
  else entries = spec.fields.filter((f) => Object.hasOwn(object, f) && object[f] !== undefined).map((f) => [f, object[f]]);
  // The writer's own authority is reported whatever the rule; it ranks only under `conflict: authority`.
  const authority = step.agent ? (authorityOf?.(step.agent) ?? 1) : 0;
  return { entries: entries.slice(0, MAX_PUBLISHED), order: spec.order, authority, byAuthority: spec.byAuthority };
}
