/** A run as the API shows it (GET /v1/runs/:id): its record, its steps, and its DAG. */
import type { CompiledWorkflow } from '../kinds/definition.js';
import type { WaitingFor } from './waiting.js';
import { awaitsDecision, type RunRecord, type StepRecord } from '../model/run.js';
import type { BudgetReserved } from '../store/run-store.js';

export interface DagNode {
  id: string;
  kind: StepRecord['kind'];
  agent: string | null;
  parent: string | null;
  status: StepRecord['status'];
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}
/** A dependency edge, or (`kind: 'parent'`) the edge from a step to a step it added. */
export type DagEdge = { from: string; to: string } | { from: string; to: string; kind: 'parent' };
export interface DagView {
  nodes: DagNode[];
  edges: DagEdge[];
}
/** A step as GET /v1/runs/:id shows it: its record and, while it is not running, what it waits for. */
export type StepView = StepRecord & { waitingFor?: WaitingFor };
/** A gate a run waits at: since when, and when it decides by itself (null: never). */
export interface GateWait {
  stepId: string;
  since: string | null;
  deadline: string | null;
}

/**
 * A run as GET /v1/runs/:id shows it. Its status is `waiting` while it runs and an approval
 * gate waits for a decision (`waitingAt` names them).
 */
export type RunView = RunRecord & { waitingAt?: GateWait[]; reserved?: BudgetReserved; steps: StepView[]; dag: DagView; definition?: CompiledWorkflow };

/**
 * `reserved`: what the run's provider calls in flight hold against its token and cost budget,
 * beside what it spent (`usage`); shown for a live run with such a budget.
 */
export function toRunView(run: RunRecord, steps: StepRecord[], reserved?: BudgetReserved): RunView {
  // Not a gate waiting for a revision it asked for, or on its way from one: it waits for a person.
  const gates = run.status === 'waiting' ? steps.filter(awaitsDecision) : [];
  return {
    ...run,
    ...(gates.length ? { waitingAt: gates.map((g) => ({ stepId: g.stepId, since: g.startedAt, deadline: g.retryAt })) } : {}),
    ...(reserved ? { reserved } : {}),
    steps,
    dag: {
      nodes: steps.map((s) => ({
        id: s.stepId,
        kind: s.kind,
        agent: s.agent,
        parent: s.parent,
        status: s.status,
        startedAt: s.startedAt,
        finishedAt: s.finishedAt,
        durationMs: s.startedAt && s.finishedAt ? Date.parse(s.finishedAt) - Date.parse(s.startedAt) : null,
      })),
      edges: steps.flatMap((s): DagEdge[] => [
        ...s.dependsOn.map((d) => ({ from: d, to: s.stepId })),
        ...(s.parent ? [{ from: s.parent, to: s.stepId, kind: 'parent' as const }] : []),
      ]),
    },
  };
}
