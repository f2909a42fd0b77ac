/** The executor of each step kind, chosen in this one place. */
import type { Executors } from '../executor.js';
import { concatExecutor, mergeExecutor, synthesizeExecutor, voteExecutor } from './aggregate.js';
import { agentExecutor, type AgentExecutorDeps } from './agent.js';
import { approvalExecutor } from './approval.js';
import { forEachExecutor } from './for-each.js';
import { loopExecutor } from './loop.js';
import { planExecutor } from './plan.js';

export type ExecutorDeps = AgentExecutorDeps;

export function createExecutors(deps: ExecutorDeps): Executors {
  const agent = agentExecutor(deps);
  return {
    agent,
    loop: loopExecutor(),
    forEach: forEachExecutor(),
    plan: planExecutor(deps),
    approval: approvalExecutor(),
    vote: voteExecutor(deps),
    concat: concatExecutor(),
    merge: mergeExecutor(),
    synthesize: synthesizeExecutor(agent),
  };
}
