/** The compile rule of `kind: synthesize`: a known agent, and the steps it reads, named (`of`) or depended on. */
import { checkAgent, readsOfOrDeps, type KindRule } from '../compile-rule.js';

export const synthesizeRule: KindRule<'synthesize'> = {
  templated: (def) => [{ at: 'input', value: def.input }],
  check(def, ctx) {
    checkAgent(ctx, 'agent', def.agent);
    if (!def.of && def.dependsOn.length === 0) ctx.issue(`${ctx.path}.of`, 'name the steps to synthesize (of), or depend on them (dependsOn)');
  },
  reads: readsOfOrDeps,
  rendered: (step) => [{ at: 'input', value: step.input }],
  schemas: () => [],
  compile: (def) => ({ kind: 'synthesize', agent: def.agent, input: def.input, of: def.of ?? def.dependsOn }),
};
