/** The compile rule of `kind: plan`: its planner and the agents the plan may use are known agents. */
import { checkAgent, type KindRule } from '../compile-rule.js';

export const planRule: KindRule<'plan'> = {
  templated: (def) => [{ at: 'input', value: def.input }],
  check(def, ctx) {
    checkAgent(ctx, 'agent', def.agent);
    def.agents?.forEach((a, i) => checkAgent(ctx, `agents[${i}]`, a));
  },
  rendered: (step) => [{ at: 'input', value: step.input }],
  schemas: () => [],
  compile: (def) => ({ kind: 'plan', agent: def.agent, input: def.input, maxSteps: def.maxSteps, ...(def.agents ? { agents: def.agents } : {}) }),
};
