/**
 * Maps a workflow DAG onto one BullMQ flow (a tree) — see docs/adr/001-dag-on-flowproducer.md.
 *
 * - The root is a `run` job; its children are the sink steps (nothing depends on them).
 * - Every step has exactly one owner in the tree: its first dependent in topological order
 *   (or the root). Its owner waits for it natively (parent/child).
 * - Every other dependent of a shared step gets a small `ref` child instead, added delayed;
 *   when the shared step finishes it promotes its refs. So a diamond's shared step runs once
 *   and each step starts as soon as its own dependencies are done.
 * - Required steps fail their parent (so a failure never leaves a parent in
 *   waiting-children); optional steps are ignored by their parent on failure.
 */
import type { FlowJob } from 'bullmq';
import type { CompiledStep, CompiledWorkflow } from '../workflows/definition.js';
import { REF_QUEUE, RUN_QUEUE, agentQueueName, refJobId, stepJobId } from './keys.js';

export interface StepJobData {
  runId: string;
  step: CompiledStep;
  /** Ref job ids (in REF_QUEUE) to promote once this step has finished. */
  refs: string[];
}
export interface RefJobData {
  runId: string;
  /** The shared step this ref stands for. */
  target: string;
  targetAgent: string;
}
export interface RunJobData {
  runId: string;
}

export interface AgentJobDefaults {
  attempts: number;
  backoff: { type: 'fixed' | 'exponential'; delayMs: number; jitter: number };
}

export interface BuildFlowOptions {
  runId: string;
  workflow: CompiledWorkflow;
  agentDefaults: (agent: string) => AgentJobDefaults;
  priority?: number;
  retentionSeconds: number;
  /** How long a ref sleeps before checking its target by itself (in case a promote was lost). */
  refSafetyDelayMs: number;
}

export interface FlowPlan {
  tree: FlowJob;
  /** Every ref job id of the run, to promote them all when the run ends early. */
  refIds: string[];
}

export function buildFlow(opts: BuildFlowOptions): FlowPlan {
  const { runId, workflow } = opts;
  const byId = new Map(workflow.steps.map((s) => [s.id, s]));
  const dependents = new Map<string, string[]>(workflow.steps.map((s) => [s.id, []]));
  for (const s of workflow.steps) for (const d of s.dependsOn) dependents.get(d)!.push(s.id);

  // Owner = first dependent in topological order (steps are topologically sorted).
  const owner = new Map<string, string | null>();
  for (const s of workflow.steps) owner.set(s.id, dependents.get(s.id)![0] ?? null);

  const refsOf = new Map<string, string[]>(workflow.steps.map((s) => [s.id, []]));
  const refIds: string[] = [];
  const keep = { age: opts.retentionSeconds };
  const common = { removeOnComplete: keep, removeOnFail: keep, ...(opts.priority ? { priority: opts.priority } : {}) };

  const refNode = (target: CompiledStep, dependent: string): FlowJob => {
    const id = refJobId(runId, target.id, dependent);
    refsOf.get(target.id)!.push(id);
    refIds.push(id);
    const data: RefJobData = { runId, target: target.id, targetAgent: target.agent };
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
    const defaults = opts.agentDefaults(step.agent);
    const data: StepJobData = { runId, step, refs: refsOf.get(step.id)! };
    return {
      name: step.id,
      queueName: agentQueueName(step.agent),
      data,
      opts: {
        ...common,
        jobId: stepJobId(runId, step.id),
        attempts: step.attempts ?? defaults.attempts,
        backoff: { type: defaults.backoff.type, delay: defaults.backoff.delayMs, jitter: defaults.backoff.jitter },
        ...(step.optional ? { ignoreDependencyOnFailure: true } : { failParentOnFailure: true }),
      },
      ...(children.length ? { children } : {}),
    };
  };

  const sinks = workflow.steps.filter((s) => owner.get(s.id) === null);
  const rootData: RunJobData = { runId };
  const tree: FlowJob = {
    name: 'run',
    queueName: RUN_QUEUE,
    data: rootData,
    opts: { ...common, jobId: runId, attempts: 3, backoff: { type: 'fixed', delay: 1000 } },
    children: sinks.map(stepNode),
  };
  return { tree, refIds };
}
