/**
 * The executor of each step kind, chosen in this one place (each is its folder's execute.ts;
 * the seam is executor.ts). Typed over every kind of src/model/step-kind.ts, so a new kind
 * does not compile until it has an executor here. The schemas are listed in definition.ts,
 * the compile rules in rules.ts.
 *
 * What an executor needs from the floors above it is given here, never imported: the plan
 * kind's compiler (src/compile/plan.ts), and the agent kind's executor, which a synthesis
 * runs as one call.
 */
import type { Executors } from './executor.js';
import { agentExecutor, type AgentExecutorDeps } from './agent/execute.js';
import { loopExecutor } from './loop/execute.js';
import { forEachExecutor } from './for-each/execute.js';
import { planExecutor, type CompilePlan } from './plan/execute.js';
import { approvalExecutor } from './approval/execute.js';
import { voteExecutor } from './vote/execute.js';
import { concatExecutor } from './concat/execute.js';
import { mergeExecutor } from './merge/execute.js';
import { synthesizeExecutor } from './synthesize/execute.js';
import { httpExecutor, type HttpExecutorDeps } from './http/execute.js';

export type { ReadRuns, RecentRun } from '../tools/builtins/read-runs.js';

export interface ExecutorDeps extends AgentExecutorDeps, HttpExecutorDeps {
  /** Checks a planner's plan as the workflow compiler checks a workflow. */
  compilePlan: CompilePlan;
}

export function createExecutors(deps: ExecutorDeps): Executors {
  const agent = agentExecutor(deps);
  return {
    agent,
    loop: loopExecutor(),
    forEach: forEachExecutor(),
    plan: planExecutor(deps),
    approval: approvalExecutor(),
    vote: voteExecutor(),
    concat: concatExecutor(),
    merge: mergeExecutor(),
    synthesize: synthesizeExecutor(agent),
    http: httpExecutor(deps),
  };
}
