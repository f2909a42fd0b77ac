/**
 * Maps a DAG of steps onto BullMQ flows (trees) — see docs/adr/001-dag-on-flowproducer.md.
 * The same rules for a run's definition and for steps a running step adds to its run:
 *
 * - Every step has exactly one owner in the tree: its first dependent in topological order.
 *   Its owner waits for it natively (parent/child).
 * - Every other dependent of a shared step gets a small `ref` child instead, added delayed;
 *   when the shared step finishes it promotes its refs. So a diamond's shared step runs once
 *   and each step starts as soon as its own dependencies are done.
 * - Required steps fail their parent (so a failure never leaves a parent in
 *   waiting-children); optional steps are ignored by their parent on failure.
 * - The steps nothing depends on (sinks) hang under an attachment: the run's root `run` job
 *   (`buildRunFlow`), or the running step that added them (`buildChildFlows`), which they wake
 *   whatever their outcome (ignoreDependencyOnFailure): it reads their results itself.
 */
import type { FlowJob, JobsOptions } from 'bullmq';
import type { CompiledStep } from '../kinds/definition.js';
import { REF_QUEUE, RUN_QUEUE, refJobId, stepJobId, stepQueueName } from '../store/keys.js';

export interface StepJobData {
  runId: string;
  workspaceId: string;
  step: CompiledStep;
  /** Ref job ids (in REF_QUEUE) to promote once this step has finished. */
  refs: string[];
  /** When the run's budget `deadlineMs` passes (epoch ms): a step that begins later halts the run. */
  deadline?: number;
  /** The run has a token or cost budget, or a spend envelope holds it: each provider call reserves first. */
  budgeted?: true;
  /** The run's own `priority` (the steps it adds take their fair turns `priority - 1` turns later). */
  priority?: number;
  /** The API key that submitted the run (its spend envelope holds the run's calls); never the key itself. */
  keyId?: string;
  /**
   * The step is its run's only job (a single-step run has no root job): its ending finishes
   * the run, in the same write when it records a result.
   */
  standalone?: true;
}
export interface RefJobData {
  runId: string;
  workspaceId: string;
  /** The shared step this ref stands for, and the queue its job is in. */
  target: string;
  targetQueue: string;
}
export interface RunJobData {
  runId: string;
  workspaceId: string;
}

/** The retry policy of a step's job. */
export interface JobPolicy {
  attempts: number;
  backoff: { type: 'fixed' | 'exponential'; delayMs: number; jitter: number };
}

export interface BuildStepsOptions {
  runId: string;
  workspaceId: string;
  /** The run's deadline (epoch ms), carried by every step job. */
  deadline?: number | undefined;
  /** The run has a token or cost budget or an envelope holds it (carried by every step job). */
  budgeted?: boolean | undefined;
  /** The API key that submitted the run (carried by every step job). */
  keyId?: string | undefined;
  /** In a topological order; dependencies name steps of this list only. */
  steps: readonly CompiledStep[];
  jobPolicy: (step: CompiledStep) => JobPolicy;
  /** The run's own `priority`, carried by every step job (for the steps they add). */
  runPriority?: number | undefined;
  /** BullMQ priority by step id (fair-priorities.ts: a workspace's fair turns); a step not in it goes to the plain wait list. */
  priorities?: ReadonlyMap<string, number> | undefined;
  retentionSeconds: number;
  /** Completed jobs a queue keeps (Bull Board); 0: a job is removed once it completes (its run keeps everything). */
  keepCompletedJobs: number;
  /** How long a ref sleeps before checking its target by itself (in case a promote was lost). */
  refSafetyDelayMs: number;
}

export interface StepTrees {
  /** One tree per sink step. */
  sinks: FlowJob[];
  /** Every ref job id among them. */
  refIds: string[];
}

/** Each step's owner: its first dependent in topological order (null for a sink), whose job holds its job as a child; other dependents get a ref. */
function ownersOf(steps: readonly Pick<CompiledStep, 'id' | 'dependsOn'>[]): Map<string, string | null> {
  // Filled in loops: no list of pairs made to build a map from (a run's every step, at each submission).
  const owner = new Map<string, string | null>();
  for (const s of steps) owner.set(s.id, null);
  for (const s of steps) for (const d of s.dependsOn) if (owner.get(d) === null) owner.set(d, s.id);
  return owner;
}

/** The ref job ids of a run's flow (as buildRunFlow makes them), without building it: what its state records before its jobs are added. */
export function refIdsOf(runId: string, steps: readonly Pick<CompiledStep, 'id' | 'dependsOn'>[]): string[] {
  // A single-step run's (most runs'): nothing to refer to, and no map of owners made.
  if (steps.length === 1 && steps[0]!.dependsOn.length === 0) return [];
  const owner = ownersOf(steps);
  return steps.flatMap((s) => s.dependsOn.filter((d) => owner.get(d) !== s.id).map((d) => refJobId(runId, d, s.id)));
}

function buildStepTrees(opts: BuildStepsOptions): StepTrees {
  const { runId, steps } = opts;
  const byId = new Map<string, CompiledStep>();
  const refsOf = new Map<string, string[]>();
  for (const s of steps) {
    byId.set(s.id, s);
    refsOf.set(s.id, []);
  }
  const owner = ownersOf(steps);

  const refIds: string[] = [];
  const common = retention(opts);

  const refNode = (target: CompiledStep, dependent: string): FlowJob => {
    const id = refJobId(runId, target.id, dependent);
    refsOf.get(target.id)!.push(id);
    refIds.push(id);
    const data: RefJobData = { runId, workspaceId: opts.workspaceId, target: target.id, targetQueue: stepQueueName(target) };
    return {
      name: 'ref',
      queueName: REF_QUEUE,
      data,
      // A ref only fails on infrastructure errors (Redis): retry those before giving up.
      opts: { ...common, jobId: id, delay: opts.refSafetyDelayMs, attempts: 5, backoff: { type: 'exponential', delay: 500 }, ignoreDependencyOnFailure: true },
    };
  };

  const stepNode = (step: CompiledStep): FlowJob => {
    const children = step.dependsOn.map((d) => {
      const dep = byId.get(d)!;
      return owner.get(d) === step.id ? stepNode(dep) : refNode(dep, step.id);
    });
    const jobOpts = stepJobOptions(opts, step, common);
    if (step.optional) jobOpts.ignoreDependencyOnFailure = true;
    else jobOpts.failParentOnFailure = true;
    return {
      name: step.id,
      queueName: stepQueueName(step),
      data: stepJobData(opts, step, refsOf.get(step.id)!),
      opts: jobOpts,
      ...(children.length ? { children } : {}),
    };
  };

  // `data.refs` is the list itself: a ref made while building a later sink still lands in it.
  const sinks = steps.filter((s) => owner.get(s.id) === null).map(stepNode);
  return { sinks, refIds };
}

/** A step job's data: its step, its refs (the list itself: a ref made later lands in it), and what the run's every step job carries. */
function stepJobData(opts: BuildStepsOptions, step: CompiledStep, refs: string[]): StepJobData {
  const data: StepJobData = { runId: opts.runId, workspaceId: opts.workspaceId, step, refs };
  if (opts.deadline) data.deadline = opts.deadline;
  if (opts.budgeted) data.budgeted = true;
  if (opts.runPriority) data.priority = opts.runPriority;
  if (opts.keyId) data.keyId = opts.keyId;
  return data;
}

/** A step job's options, without what ties it to a parent: its id, fair turn, attempts and backoff, with `common`'s retention. */
function stepJobOptions(opts: BuildStepsOptions, step: CompiledStep, common: JobsOptions): JobsOptions {
  const { attempts, backoff } = opts.jobPolicy(step);
  // One literal (every step job's options have the same shape), its priority added last when it has one.
  const jobOpts: JobsOptions = {
    removeOnComplete: common.removeOnComplete,
    removeOnFail: common.removeOnFail,
    jobId: stepJobId(opts.runId, step.id),
    attempts,
    backoff: { type: backoff.type, delay: backoff.delayMs, jitter: backoff.jitter },
  };
  const priority = opts.priorities?.get(step.id);
  if (priority) jobOpts.priority = priority;
  return jobOpts;
}

function retention(opts: Pick<BuildStepsOptions, 'retentionSeconds' | 'keepCompletedJobs'>): JobsOptions {
  // A completed job holds nothing its run does not: by default it goes at once. A failed one
  // stays for the retention period, to be looked at in Bull Board.
  return {
    removeOnComplete: opts.keepCompletedJobs > 0 ? { count: opts.keepCompletedJobs } : true,
    removeOnFail: { age: opts.retentionSeconds },
  };
}

/**
 * A run's whole flow: the root `run` job over the trees of its steps; for a run of one step,
 * that step's job alone (`standalone`: it finishes the run itself).
 */
export function buildRunFlow(opts: BuildStepsOptions): { tree: FlowJob; refIds: string[] } {
  const only = opts.steps.length === 1 ? opts.steps[0]! : undefined;
  if (only && only.dependsOn.length === 0) {
    // A single-step run: its one job, built directly (no tree, no refs, no parent to fail).
    const data = stepJobData(opts, only, []);
    data.standalone = true;
    return { tree: { name: only.id, queueName: stepQueueName(only), data, opts: stepJobOptions(opts, only, retention(opts)) }, refIds: [] };
  }
  const { sinks, refIds } = buildStepTrees(opts);
  const data: RunJobData = { runId: opts.runId, workspaceId: opts.workspaceId };
  const tree: FlowJob = {
    name: 'run',
    queueName: RUN_QUEUE,
    data,
    opts: { ...retention(opts), jobId: opts.runId, attempts: 3, backoff: { type: 'fixed', delay: 1000 } },
    children: sinks,
  };
  return { tree, refIds };
}

/**
 * The flows of steps a running step adds to its run: one tree per sink, each a child of that
 * step's job (`parent`: its id and qualified queue name), which each wakes whatever its outcome.
 */
export function buildChildFlows(opts: BuildStepsOptions & { parent: { id: string; queue: string } }): StepTrees {
  const { sinks, refIds } = buildStepTrees(opts);
  for (const sink of sinks) {
    const { failParentOnFailure: _required, ...rest } = sink.opts ?? {};
    sink.opts = { ...rest, parent: opts.parent, ignoreDependencyOnFailure: true };
  }
  return { sinks, refIds };
}
