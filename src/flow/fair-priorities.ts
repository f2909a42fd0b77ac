/**
 * Fair sharing of the agent pools among workspaces: each new step job that is ready at once (a
 * step with no dependency among the jobs added with it, on an agent's queue) takes its
 * workspace's next fair turn on that queue as its BullMQ priority, so BullMQ, which already
 * decides who goes next, serves the workspaces in turn (start-time fair queueing, one unit per
 * step; store/scripts/lua/fair-turns.lua, docs/adr/006-fair-sharing.md). A step that waits for
 * others moves to its queue later by BullMQ's own hand, with no priority: it is already paced by
 * the fair turns of the steps it waits for.
 */
import type { RunStore } from '../store/run-store.js';
import { agentQueueName, stepJobId } from '../store/keys.js';
import type { Scope } from '../store/scope.js';

/** BullMQ's highest priority value (2^21 - 1). */
const MAX_PRIORITY = 2_097_151;

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

/** The priority of each of `steps` that takes a turn (absent: none, the plain wait list). One script per agent queue, sent together. */
export async function fairPriorities(
  store: Pick<RunStore, 'fair'>,
  scope: Scope,
  runId: string,
  steps: readonly FairStep[],
  opts: FairOptions,
): Promise<Map<string, number>> {
  const byAgent = new Map<string, string[]>();
  for (const s of steps) if (s.agent && s.dependsOn.length === 0) byAgent.set(s.agent, [...(byAgent.get(s.agent) ?? []), s.id]);
  const out = new Map<string, number>();
  const delay = Math.max(0, (opts.priority ?? 1) - 1);
  await Promise.all(
    [...byAgent].map(async ([agent, ids]) => {
      const turns = await store.fair.take(
        scope,
        agentQueueName(agent),
        ids.map((id) => stepJobId(runId, id)),
        opts.share(agent),
      );
      ids.forEach((id, i) => {
        const turn = turns[i]!;
        if (turn > 0) out.set(id, Math.min(turn + delay, MAX_PRIORITY));
      });
    }),
  );
  return out;
}
