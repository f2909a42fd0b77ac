/**
 * `kind: synthesize`: an agent step (on its agent's pool) given the outputs of the steps it
 * names in its context as `inputs: {<step>: output}`, run as one call by the agent kind's
 * executor, which it is given (no executor imports another).
 */
import type { StepExecutor } from '../executor.js';
import { renderFor } from '../shared/scope.js';

export function synthesizeExecutor(agent: StepExecutor<'agent'>): StepExecutor<'synthesize'> {
  return {
    async execute(step, ctx) {
      const input = renderFor(step.input, ctx, 'the step input');
      const byId = new Map(ctx.reads.map((r) => [r.stepId, r]));
      const inputs = Object.fromEntries(step.of.map((id) => [id, byId.get(id)?.status === 'succeeded' ? byId.get(id)!.output : null]));
      const { of: _of, kind: _kind, ...rest } = step;
      // No delegation: a synthesis is one call over what it was given.
      return agent.execute({ ...rest, kind: 'agent', input: { ...input, context: { ...input.context, inputs } }, literal: true, delegates: [] }, ctx);
    },
  };
}
