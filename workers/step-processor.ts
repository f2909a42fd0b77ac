/**
 * The processor of every agent queue: one step of one run.
 *
 * Order of business: never redo a finished step (a redelivered job after a crash returns the
 * stored result: no provider call is paid twice); end at once when the run has ended; skip
 * when a dependency was skipped or `when` is false; render the input; call the provider
 * under an AbortSignal that fires on timeout and on cancellation; store the output once.
 * Errors map to BullMQ by class: rate-limited → RateLimitError (no attempt burnt),
 * not retryable or out of attempts → UnrecoverableError after the failure is recorded.
 */
import { RateLimitError, UnrecoverableError, type Job, type Queue, type Worker } from 'bullmq';
import type { AgentRegistry } from '../src/agents/registry.js';
import { CancelledError, NonRetryableError, RateLimitedError, StepTimeoutError, ValidationError, toError } from '../src/errors/index.js';
import type { Logger } from '../src/logger.js';
import { buildMessages } from '../src/providers/prompt.js';
import type { Provider } from '../src/providers/provider.js';
import type { StepJobData } from '../src/runs/flow-builder.js';
import type { RunControl } from '../src/runs/run-control.js';
import type { RunStore } from '../src/runs/run-store.js';
import { LIVE_STEP_STATUSES, LOST_STEP_ERROR, TERMINAL_RUN_STATUSES, TERMINAL_STEP_STATUSES, type StepRecord, type StepStatus } from '../src/runs/types.js';
import { evaluateWhen } from '../src/workflows/expression.js';
import { renderTemplates, type TemplateScope } from '../src/workflows/templates.js';
import type { ActiveJobs } from './active-jobs.js';
import { readWithGrace } from './grace.js';

/**
 * What a step job returns to its parent: small; the output itself is stored once, in the run.
 * `status` is what this worker reported; the run state is authoritative (a step that succeeded
 * just as its run was cancelled reads `cancelled` there).
 */
export interface StepEnvelope {
  stepId: string;
  status: StepStatus;
}

export interface StepProcessorContext {
  store: RunStore;
  control: RunControl;
  registry: AgentRegistry;
  providerFor: (agent: string) => Provider;
  active: ActiveJobs;
  logger: Logger;
  /** The worker running this processor (to cancel its jobs). Set after the Worker is built. */
  worker: () => Worker;
  /** The agent's queue (its rate limiter is shared by every worker process). */
  queue: Queue;
}

const isTerminalStep = (s: StepStatus) => TERMINAL_STEP_STATUSES.includes(s);
const LIVE = LIVE_STEP_STATUSES;

export function createStepProcessor(ctx: StepProcessorContext) {
  const { store, control } = ctx;

  return async function processStep(job: Job<StepJobData>, _token?: string, signal?: AbortSignal): Promise<StepEnvelope> {
    const { runId, step, refs } = job.data;
    // Built on first use: most steps log nothing, and a child logger per job is not free.
    let child: Logger | undefined;
    const log = () => (child ??= ctx.logger.child({ runId, stepId: step.id, agent: step.agent, jobId: job.id }));
    const envelope = (status: StepStatus): StepEnvelope => ({ stepId: step.id, status });
    const finish = async (status: StepStatus) => {
      await control.promoteRefs(runId, refs);
      return envelope(status);
    };

    const agent = ctx.registry.require(step.agent);
    const attempt = job.attemptsMade + 1;
    const reads = new Set(step.reads);
    const extra = step.reads.filter((id) => !step.dependsOn.includes(id));
    // One round trip: read the run, the step and what it reads; on the fast path (no `when`,
    // every dependency usable) the same script moves the step to running.
    // BullMQ starts us once every dependency's job is done; one whose state still reads live
    // is looked at again briefly before it is recorded lost (see grace.ts).
    const begin = await readWithGrace(
      () => store.beginStep(runId, step.id, { attempt, fast: !step.when, deps: step.dependsOn, extra, needsOutput: (id) => reads.has(id) }),
      (b) => b.mode === 'slow' && b.reads.slice(0, step.dependsOn.length).some((d) => !isTerminalStep(d.status)),
    );
    if (begin.mode === 'missing') return envelope('cancelled'); // run expired or removed
    if (begin.mode === 'done') {
      // A finished step delivered again (crash after storing its result) is never paid twice.
      return finish(isTerminalStep(begin.stepStatus) ? begin.stepStatus : 'cancelled');
    }
    const deps = begin.reads.slice(0, step.dependsOn.length);
    const scope: TemplateScope = {
      input: (begin.runInput ?? {}) as Record<string, unknown>,
      steps: Object.fromEntries(begin.reads.map((d) => [d.stepId, { status: d.status, output: d.output }])),
    };

    if (begin.mode === 'slow') {
      for (const dep of deps.filter((d) => !isTerminalStep(d.status))) {
        // BullMQ only starts us when every child is done, so a dependency still "live" lost its
        // job without reporting (e.g. stalled past its limit). Record that, and end the run if it mattered.
        await markLost(ctx, runId, dep);
        dep.status = 'failed';
      }
      if (deps.some((d) => d.status === 'failed' && !d.optional)) return finish('cancelled');

      const skip = async (reason: string) => {
        await store.transitionStep(runId, step.id, { from: LIVE, to: 'skipped', fields: { reason, finishedAt: new Date().toISOString() }, event: { type: 'step.skipped', data: { reason } } });
        log().debug({ reason }, 'step skipped');
        return finish('skipped');
      };
      const skippedDep = deps.find((d) => d.status === 'skipped' || d.status === 'cancelled');
      if (skippedDep && !step.allowSkippedDeps) return skip(`dependency "${skippedDep.stepId}" was ${skippedDep.status}`);
      try {
        if (step.when && !evaluateWhen(step.when, scope)) return skip(`when is false: ${step.when}`);
      } catch (err) {
        return failFinally(new NonRetryableError(`could not evaluate when: ${toError(err).message}`));
      }
      const started = await store.transitionStep(runId, step.id, {
        from: LIVE,
        to: 'running',
        fields: { attempts: attempt, error: null, reason: null, ...(begin.startedAt ? {} : { startedAt: new Date().toISOString() }) },
        event: { type: 'step.started', data: { attempt } },
      });
      if (!started.applied) return finish(started.status as StepStatus);
    }

    let input = step.input;
    try {
      if (!step.literal) input = renderTemplates(step.input, scope);
    } catch (err) {
      return failFinally(new NonRetryableError(`could not render the step input: ${toError(err).message}`));
    }

    const timeoutMs = step.timeoutMs ?? agent.timeoutMs;
    // One controller for the call: fires on the step timeout, or when BullMQ cancels the job.
    const call = new AbortController();
    const timer = setTimeout(() => call.abort(new StepTimeoutError(timeoutMs)), timeoutMs);
    const onCancel = () => call.abort(signal?.reason);
    if (signal?.aborted) onCancel();
    else signal?.addEventListener('abort', onCancel, { once: true });
    const callSignal = call.signal;
    const untrack = ctx.active.track(runId, ctx.worker(), job.id!);
    const t0 = Date.now();
    try {
      const result = await ctx.providerFor(step.agent).complete({
        agent: step.agent,
        model: agent.model,
        system: agent.systemPrompt || undefined,
        messages: buildMessages(input),
        ...(agent.temperature !== undefined ? { temperature: agent.temperature } : {}),
        maxTokens: agent.maxTokens,
        signal: callSignal,
        ...(agent.stream ? { onText: progressReporter(t0, agent.progressIntervalMs, callSignal, reportProgress) } : {}),
      });
      // Sent ahead of the job's completion on BullMQ's connection, which Redis serves in order:
      // the step's dependents (and its refs, promoted below on that connection) see its result,
      // without this step waiting for the write's reply.
      store
        .transitionStepAhead(runId, step.id, {
          from: ['running'],
          to: 'succeeded',
          fields: { input, output: result.text, usage: result.usage, model: result.model, finishedAt: new Date().toISOString() },
          event: { type: 'step.completed', data: { usage: result.usage, model: result.model, durationMs: Date.now() - t0 } },
        })
        .then(
          (done) => { if (!done.applied) log().debug({ status: done.status }, 'step result not recorded: the step had already ended'); },
          (err: unknown) => log().error({ err: toError(err).message }, 'could not record the step result'),
        );
      return finish('succeeded');
    } catch (raw) {
      const err = toError(raw);
      if (err instanceof CancelledError || (signal?.aborted && !(err instanceof StepTimeoutError))) {
        const status = await store.getRunStatus(runId);
        if (status && TERMINAL_RUN_STATUSES.includes(status)) return finish('cancelled');
      }
      if (err instanceof RateLimitedError) {
        await store.transitionStep(runId, step.id, {
          from: ['running'],
          to: 'retrying',
          fields: { reason: `rate limited; retrying in ${err.retryAfterMs} ms`, attempts: job.attemptsMade },
          event: { type: 'step.retrying', data: { reason: 'rate_limited', retryAfterMs: err.retryAfterMs } },
        });
        log().warn({ retryAfterMs: err.retryAfterMs }, 'provider rate limited; queue paused');
        await ctx.queue.rateLimit(err.retryAfterMs);
        throw new RateLimitError();
      }
      const maxAttempts = job.opts.attempts ?? 1;
      if (err instanceof NonRetryableError || err instanceof ValidationError || attempt >= maxAttempts) return failFinally(err);
      await store.transitionStep(runId, step.id, {
        from: ['running'],
        to: 'retrying',
        fields: { input, error: err.message },
        event: { type: 'step.retrying', data: { attempt, error: err.message } },
      });
      log().warn({ attempt, maxAttempts, err: err.message }, 'step attempt failed; will retry');
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCancel);
      untrack();
    }

    /** A `step.progress` event and the BullMQ job's progress (Bull Board); a failed write is only logged. */
    function reportProgress(progress: { chars: number; elapsedMs: number }): void {
      const warn = (what: string) => (err: unknown) => log().warn({ err: toError(err).message }, `could not record ${what}`);
      store.stepProgress(runId, step.id, attempt, progress).catch(warn('a step.progress event'));
      job.updateProgress({ attempt, ...progress }).catch(warn('the job progress'));
    }

    async function failFinally(err: Error): Promise<never> {
      await store.transitionStep(runId, step.id, {
        from: LIVE,
        to: 'failed',
        fields: { error: err.message, finishedAt: new Date().toISOString() },
        event: { type: 'step.failed', data: { error: err.message, attempts: attempt } },
      });
      // A halt that applies wakes every ref of the run, this step's among them.
      const halted = !step.optional && (await control.halt(runId, 'failed', { error: `step "${step.id}" failed: ${err.message}`, reason: `step "${step.id}" failed` })).applied;
      if (!halted) await control.promoteRefs(runId, refs);
      log().warn({ err: err.message, optional: step.optional }, 'step failed');
      throw new UnrecoverableError(err.message);
    }
  };
}

/**
 * Counts a streamed answer's text and reports `{chars, elapsedMs}`: on the first piece (time
 * to first token), then at most once per `intervalMs` (checked as pieces arrive, no timer).
 * Nothing is reported once `signal` has fired (the SDKs still hand over text already
 * received), and the returned callback never throws, as providers require.
 */
export function progressReporter(
  t0: number,
  intervalMs: number,
  signal: AbortSignal,
  report: (p: { chars: number; elapsedMs: number }) => void,
): (delta: string) => void {
  let chars = 0;
  let last: number | undefined;
  return (delta) => {
    chars += delta.length;
    const now = Date.now();
    if (signal.aborted || (last !== undefined && now - last < intervalMs)) return;
    last = now;
    try {
      report({ chars, elapsedMs: now - t0 });
    } catch {
      // Reporting is best effort; the answer matters more.
    }
  };
}

/** A step whose job ended without reporting: record it failed; a required one fails the run. */
export async function markLost(ctx: Pick<StepProcessorContext, 'store' | 'control'>, runId: string, dep: Pick<StepRecord, 'stepId' | 'optional'>): Promise<void> {
  const error = LOST_STEP_ERROR;
  const res = await ctx.store.transitionStep(runId, dep.stepId, {
    from: LIVE,
    to: 'failed',
    fields: { error, finishedAt: new Date().toISOString() },
    event: { type: 'step.failed', data: { error } },
  });
  if (res.applied && !dep.optional) {
    await ctx.control.halt(runId, 'failed', { error: `step "${dep.stepId}" failed: ${error}`, reason: `step "${dep.stepId}" failed` });
  }
}
