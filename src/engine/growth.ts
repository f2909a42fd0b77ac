/**
 * Runs that grow: a running step adds steps to its run. Their records (with `parent`), step
 * list entries, refs and `step.added` events are written in one script, gated on the parent
 * still running the same attempt; then their jobs are added as children of the parent's job
 * (one tree per sink of the new steps, with the owner/ref rules of a top-level DAG). Ids are
 * deterministic, so a parent delivered again re-adds nothing: existing records are left
 * alone, and jobs are added only for sinks that have none (BullMQ would otherwise put a child
 * that already failed back among the parent's pending dependencies, for good). A sink that
 * finished meanwhile has none (a completed job is removed): it is added again without its
 * tree, whose failed jobs BullMQ keeps, and its job, finding the step finished, only wakes the
 * parent.
 *
 * A step added by an optional step is optional too: a failure inside an optional step's
 * sub-DAG can fail that step, never the run.
 *
 * What a run adds counts against its step limit (SWITCHYARD_MAX_STEPS, checked in the same
 * script): steps that would take it past the limit are not added, and the step adding them fails
 * naming it (a forEach of 1,000 items in a run that has room for fewer, an orchestrator's
 * delegations, a loop's rounds, a plan).
 */
import type { FlowJob, FlowProducer, Job, Queue } from 'bullmq';
import { DEFAULT_BOUNDS, type Bounds } from '../config/env.js';
import { NonRetryableError, StaleAttemptError } from '../errors/index.js';
import { buildChildFlows, type StepJobData } from '../flow/flow-builder.js';
import { fairPriorities } from '../flow/fair-priorities.js';
import type { RunStore } from '../store/run-store.js';
import { scopeOf, type Cell } from '../store/scope.js';
import { isTerminalStep } from '../model/run.js';
import type { StepPolicy } from '../flow/step-policy.js';
import { CompiledStep } from '../kinds/definition.js';
import type { ChildStep } from '../kinds/executor.js';

export interface GrowthDeps {
  store: RunStore;
  /** The cell of the jobs it adds. */
  cell: Cell;
  flowProducer: FlowProducer;
  policy: StepPolicy;
  refSafetyDelayMs: number;
  /** A queue by name (to see which of the sinks' jobs exist already). */
  queueByName: (name: string) => Queue;
  /** The run's step limit (`maxSteps`). @default DEFAULT_BOUNDS */
  bounds?: Pick<Bounds, 'maxSteps'>;
}

/**
 * Check the children a step adds and put them in a topological order: ids below the parent
 * (`<parent>.<part>`), unique, dependencies among themselves only, no cycle.
 */
export function orderChildren(parent: string, children: readonly ChildStep[]): ChildStep[] {
  const problems: string[] = [];
  const byId = new Map<string, ChildStep>();
  for (const c of children) {
    const parsed = CompiledStep.safeParse(c);
    if (!parsed.success)
      problems.push(`"${String(c.id)}" is not a valid step: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(step)'}: ${i.message}`).join('; ')}`);
    if (!c.id.startsWith(`${parent}.`)) problems.push(`"${c.id}" is not below "${parent}" (ids of added steps are "${parent}.<part>")`);
    if (byId.has(c.id)) problems.push(`"${c.id}" is added twice`);
    byId.set(c.id, c);
  }
  for (const c of children) {
    for (const d of c.dependsOn) if (!byId.has(d)) problems.push(`"${c.id}" depends on "${d}", which is not among the steps added with it`);
  }
  if (problems.length) throw new NonRetryableError(`step "${parent}" added invalid steps: ${problems.join('; ')}`);
  const order: ChildStep[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (c: ChildStep, path: string[]): void => {
    const s = state.get(c.id);
    if (s === 'done') return;
    if (s === 'visiting') throw new NonRetryableError(`step "${parent}" added steps with a cycle: ${[...path, c.id].join(' → ')}`);
    state.set(c.id, 'visiting');
    for (const d of c.dependsOn) visit(byId.get(d)!, [...path, c.id]);
    state.set(c.id, 'done');
    order.push(c);
  };
  for (const c of children) visit(c, []);
  return order;
}

/** Add `children` to the run of `job`'s step, as its children (see the module header). */
export async function addChildSteps(deps: GrowthDeps, job: Job<StepJobData>, attempt: number, children: readonly ChildStep[]): Promise<void> {
  const { runId, workspaceId, step } = job.data;
  const scope = scopeOf(deps.cell, workspaceId);
  const ordered = orderChildren(step.id, children).map((c) => (step.optional && !c.optional ? { ...c, optional: true } : c));
  if (ordered.length === 0) return;
  const priorities = await fairPriorities(deps.store, scope, runId, ordered, { share: (agent) => deps.policy.share(agent), priority: job.data.priority });
  const { sinks, refIds } = buildChildFlows({
    runId,
    workspaceId,
    deadline: job.data.deadline,
    budgeted: job.data.budgeted,
    keyId: job.data.keyId,
    steps: ordered,
    jobPolicy: (s) => deps.policy.job(s),
    priorities,
    runPriority: job.data.priority,
    retentionSeconds: deps.store.retentionSeconds,
    keepCompletedJobs: deps.store.keepCompletedJobs,
    refSafetyDelayMs: deps.refSafetyDelayMs,
    parent: { id: job.id!, queue: job.queueQualifiedName },
  });
  const maxSteps = (deps.bounds ?? DEFAULT_BOUNDS).maxSteps;
  const res = await deps.store.steps.add(scope, runId, {
    parent: step.id,
    attempt,
    steps: ordered.map((c) => ({
      stepId: c.id,
      kind: c.kind,
      agent: c.agent ?? null,
      parent: step.id,
      dependsOn: c.dependsOn,
      optional: c.optional,
      ...(c.kind === 'agent' && c.routing ? { routing: c.routing } : {}),
    })),
    refIds,
    agents: [...new Set(ordered.flatMap((c) => (c.agent ? [c.agent] : [])))],
    maxSteps,
  });
  if (!res.applied) {
    if ('tooMany' in res) {
      const { steps, adding } = res.tooMany;
      throw new NonRetryableError(
        `step "${step.id}" would add ${adding} step${adding === 1 ? '' : 's'} to its run, which has ${steps}: a run has at most ${maxSteps} steps (SWITCHYARD_MAX_STEPS)`,
      );
    }
    throw new StaleAttemptError(`step "${step.id}" is no longer running attempt ${attempt} (${res.parentStatus}); its steps were not added`);
  }
  if (res.added === 0) {
    // Delivered again after adding them: when they have all finished there is nothing to add
    // (a completed job is removed, and adding its tree again would put a failed child kept
    // among them back under this step for good).
    const records = await deps.store.steps.fields(
      scope,
      runId,
      ordered.map((c) => c.id),
      ['status'],
    );
    if (records.length === ordered.length && records.every((r) => isTerminalStep(r.status))) return;
  }
  // A delivery after a crash finds the jobs there already (added in one call, so all or none),
  // except those of sinks that completed since (a completed job is removed).
  const states = await Promise.all(sinks.map((sink) => deps.queueByName(sink.queueName).getJobState(sink.opts!.jobId!)));
  const missing = sinks.filter((_, i) => states[i] === 'unknown');
  if (missing.length === 0) return;
  // A sink that has finished is added again alone, to wake this step: its tree may hold a
  // failed job that BullMQ keeps, which would become a pending child of it for good.
  // (Only a delivery that added no records can find one finished.)
  const records =
    res.added === 0
      ? await deps.store.steps.fields(
          scope,
          runId,
          missing.map((sink) => sink.name),
          ['status'],
        )
      : [];
  const finished = new Set(records.filter((r) => isTerminalStep(r.status)).map((r) => r.stepId));
  const alone = ({ children: _children, ...sink }: FlowJob): FlowJob => sink;
  await deps.flowProducer.addBulk(missing.map((sink) => (finished.has(sink.name) ? alone(sink) : sink)));
}
