/**
 * The begin phase: one script reads the step (status, attempts, checkpoint), its run and the
 * steps it reads, and on the fast path starts it (`fastStart` says when it may). Otherwise
 * `decide` (pure) says what to do, and this phase records it: finish, mark lost dependencies,
 * skip, fail, start an attempt (a recovered one when the last attempt's worker was lost), or
 * resume after the steps it added.
 */
import { markLost } from '../flow/finish-run.js';
import { LIVE_STEP_STATUSES } from '../model/run.js';
import { countsTowardMaxSteps } from '../model/budget.js';
import { templateScope } from '../kinds/shared/scope.js';
import type { StepBeginReply } from '../store/scripts/index.js';
import { decide, fastStart, type Decision } from './decide.js';
import type { Delivery } from './delivery.js';
import { complete, failFinally, overBudget } from './record.js';
import { toBullMQ, type Ending } from './to-bullmq.js';
import { resume } from './writes.js';
import { holdForRunCap } from './run-cap.js';
import { runBudgetWarningNotice } from '../webhooks/webhooks.js';

type Read = Extract<StepBeginReply, { mode: 'read' | 'started' }>;

const NONE: readonly string[] = Object.freeze([]);
const readsNone = (): boolean => false;

/** Begin the delivery: an Effect when it ends here, or undefined when the step runs (`d.attempt` set). */
export async function begin(d: Delivery): Promise<Ending | undefined> {
  const { step, job } = d;
  const { deadline } = job.data;
  if (deadline && Date.now() > deadline) return overBudget(d, 'budget exceeded: deadlineMs passed');
  const holding = holdForRunCap(d);
  const held = holding && (await holding);
  if (held) return held;
  const reading = step.reads.length > 0;
  const readSet = reading ? new Set(step.reads) : undefined;
  const begun = await d.deps.store.steps.begin(d.scope, d.runId, step.id, {
    fast: fastStart(step),
    deps: step.dependsOn,
    extra: reading ? step.reads.filter((id) => !step.dependsOn.includes(id)) : NONE,
    // A step that reads no output (an agent task's, most first steps) is given one function for all.
    needsOutput: readSet ? (id) => readSet.has(id) : readsNone,
    maxAttempts: d.maxAttempts,
    countsStep: countsTowardMaxSteps(step),
  });
  if (begun.mode === 'missing') return { bull: 'complete', status: 'cancelled', then: 'none' }; // run expired or removed
  if (begun.mode === 'over') return overBudget(d, begun.reason);
  // Its start reached 80% of the run's maxSteps (once per run): the run's webhooks are told.
  if (begun.budgetWarning) await d.deps.notify?.(d.scope, runBudgetWarningNotice(d.runId, begun.budgetWarning));
  d.attempt = begun.attempts;
  d.reads = begun.reads;
  d.runInput = (begun.runInput ?? {}) as Record<string, unknown>;
  d.checkpoint = begun.checkpoint;
  return begun.mode === 'read' ? act(d, begun, await decideWithLost(d, begun)) : undefined;
}

/**
 * `decide`, after recording lost the dependencies it reports lost: BullMQ only starts a job once
 * its children are done, so a dependency still live lost its job without reporting (e.g. stalled
 * past its limit).
 */
async function decideWithLost(d: Delivery, begun: Read): Promise<Exclude<Decision, { action: 'lost' }>> {
  const deps = begun.reads.slice(0, d.step.dependsOn.length);
  for (;;) {
    const decision = decide({
      step: d.step,
      maxAttempts: d.maxAttempts,
      self: { status: begun.stepStatus, attempts: begun.attempts },
      run: { status: begun.runStatus },
      deps,
      scope: templateScope(d.runInput, begun.reads, undefined, d.bounds.maxRenderedBytes),
    });
    if (decision.action !== 'lost') return decision;
    // The status in force: failed, or what it reached at the same moment.
    for (const dep of deps) if (decision.deps.includes(dep.stepId)) dep.status = await markLost(d.deps, d.scope, d.runId, dep);
  }
}

/** Record what `decide` said; undefined when the step runs. */
async function act(d: Delivery, begun: Read, decision: Exclude<Decision, { action: 'lost' }>): Promise<Ending | undefined> {
  const { deps, scope, runId, step } = d;
  switch (decision.action) {
    case 'finish':
      return complete(decision.status);
    case 'cancel':
      return complete('cancelled');
    case 'skip': {
      const { reason } = decision;
      const finishedAt = new Date().toISOString();
      await deps.store.steps.transition(scope, runId, step.id, {
        from: LIVE_STEP_STATUSES,
        to: 'skipped',
        fields: { reason, finishedAt },
        event: { type: 'step.skipped', data: { reason } },
      });
      return complete('skipped');
    }
    case 'fail':
      return failFinally(d, decision.error);
    case 'start': {
      const started = await deps.store.steps.transition(scope, runId, step.id, {
        from: LIVE_STEP_STATUSES,
        to: 'running',
        attemptsDelta: 1,
        fields: {
          error: null,
          reason: null,
          retryAt: null,
          recovered: decision.recovered,
          ...(begun.startedAt ? {} : { startedAt: new Date().toISOString() }),
        },
        event: { type: 'step.started', data: decision.recovered ? { recovered: true } : {} },
        countsStep: countsTowardMaxSteps(step),
      });
      if (started.over) return overBudget(d, started.over);
      if (!started.applied) return complete(started.status);
      if (started.budgetWarning) await deps.notify?.(scope, runBudgetWarningNotice(runId, started.budgetWarning));
      d.attempt = started.attempts;
      if (decision.recovered) {
        d.log().warn({ attempt: d.attempt }, 'step recovered: its last attempt was cut short (worker lost)');
        await deps.store.budgets.releaseHolds(scope, runId, { steps: [step.id], belowAttempt: d.attempt }, d.log());
      }
      return undefined;
    }
    case 'resume': {
      // Found waiting: normally its children have all finished, but a worker lost between
      // recording `waiting` and parking the job leaves them running. Park it (again) then.
      await toBullMQ(d, { bull: 'wait-children' });
      const res = await resume(d);
      if (!res.applied) return complete(res.status);
      // What it waited for may have written its checkpoint after it was read (an approval
      // gate's decision); the resume returns the one in force.
      d.checkpoint = res.checkpoint ?? null;
      d.resumed = true;
      return undefined;
    }
  }
}
