/** The executor of each step kind, chosen in this one place. */
import type { Executors } from '../executor.js';
import { concatExecutor, mergeExecutor, voteExecutor } from './aggregate.js';
import { agentExecutor, type AgentExecutorDeps } from './agent.js';
import { approvalExecutor } from './approval.js';
import { forEachExecutor } from './for-each.js';
import { loopExecutor } from './loop.js';
import { planExecutor } from './plan.js';

export type ExecutorDeps = AgentExecutorDeps;

export function createExecutors(deps: ExecutorDeps): Executors {
  return { agent: agentExecutor(deps), loop: loopExecutor(), forEach: forEachExecutor(), plan: planExecutor(deps), approval: approvalExecutor(), vote: voteExecutor(deps), concat: concatExecutor(), merge: mergeExecutor() };
}
