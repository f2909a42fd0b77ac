/**
 * Fair sharing of the agent pools among workspaces: each new step job that is ready at once (a
 * step with no dependency among the jobs added with it, on an agent's queue) takes its
 * workspace's next fair turn on that queue as its BullMQ priority, so BullMQ, which already
 * decides who goes next, serves the workspaces in turn (start-time fair queueing, one unit per
 * step; store/scripts/lua/fair-turns.lua, docs/adr/006-fair-sharing.md). A step that waits for
 * others moves to its queue later by BullMQ's own hand, with no priority: it is already paced by
 * the fair turns of the steps it waits for. A new run's turns are taken by its create-run script
 * (fairRequests, then prioritiesOf); the steps a running step adds, by fairPriorities.
 */
import { agentQueueName, stepJobId } from '../store/keys.js';
import type { Scope } from '../store/scope.js';
import type { RunStore, FairRequest as StoreFairRequest } from '../store/run-store.js';

/** BullMQ's highest priority value (2^21 - 1). */
const MAX_PRIORITY = 2_097_151;

/** A queue's jobs that take fair turns (store/scripts' FairRequest), with their steps' ids. */
export interface FairRequest extends StoreFairRequest {
  stepIds: readonly string[];
}

/** What fair sharing reads of a step. */
export interface FairStep {
  id: string;
  agent?: string | undefined;
  dependsOn: readonly string[];
}

export interface FairOptions {
  /** How many of a queue's jobs may wait plain while nothing is prioritized (its pool's concurrency). */
  share: (agent: string) => number;
  /** The run's own `priority` (1 highest): its steps take their turns `priority - 1` turns later. */
  priority?: number | undefined;
}

/** The jobs of `steps` that take a fair turn, per agent queue: the ready ones (no dependency among them). */
export function fairRequests(runId: string, steps: readonly FairStep[], share: FairOptions['share']): FairRequest[] {
  const only = steps.length === 1 ? steps[0]! : undefined;
  if (only) {
    // A single-step run's (most runs'): its one job, without a map of the agents.
    if (!only.agent || only.dependsOn.length > 0) return [];
    return [{ queue: agentQueueName(only.agent), share: share(only.agent), jobIds: [stepJobId(runId, only.id)], stepIds: [only.id] }];
  }
  const byAgent = new Map<string, string[]>();
  for (const s of steps) if (s.agent && s.dependsOn.length === 0) byAgent.set(s.agent, [...(byAgent.get(s.agent) ?? []), s.id]);
  return [...byAgent].map(([agent, ids]) => ({
    queue: agentQueueName(agent),
    share: share(agent),
    jobIds: ids.map((id) => stepJobId(runId, id)),
    stepIds: ids,
  }));
}

/** The priority of each step given a turn (absent: none, the plain wait list), `priority - 1` turns later for a run's own `priority`. */
export function prioritiesOf(requests: readonly FairRequest[], turns: readonly (readonly number[])[], priority: number | undefined): Map<string, number> {
  const out = new Map<string, number>();
  const delay = Math.max(0, (priority ?? 1) - 1);
  requests.forEach((r, q) =>
    r.stepIds.forEach((id, i) => {
      const turn = turns[q]?.[i] ?? 0;
      if (turn > 0) out.set(id, Math.min(turn + delay, MAX_PRIORITY));
    }),
  );
  return out;
}

/** The priority of each of `steps` that takes a turn (absent: none, the plain wait list). One script per agent queue, sent together. */
export async function fairPriorities(
  store: Pick<RunStore, 'fair'>,
  scope: Scope,
  runId: string,
  steps: readonly FairStep[],
  opts: FairOptions,
): Promise<Map<string, number>> {
  const requests = fairRequests(runId, steps, opts.share);
  const turns = await Promise.all(requests.map((r) => store.fair.take(scope, r.queue, r.jobIds, r.share)));
  return prioritiesOf(requests, turns, opts.priority);
}
