/**
 * `kind: concat`, run by the engine on its control queue with no LLM call of its own: the
 * outputs of the steps it names, in order: a text with each output under a `### <step>`
 * heading (`as: text`), a list `[{step, status, output}]` (`as: list`), or the output of the
 * first that succeeded (`as: first`: a fix when one ran, else the draft).
 */
import type { StepExecutor } from '../executor.js';

export function concatExecutor(): StepExecutor<'concat'> {
  return {
    execute(step, ctx) {
      const byId = new Map(ctx.reads.map((r) => [r.stepId, r]));
      const parts = step.of.map((id) => ({ step: id, status: byId.get(id)?.status ?? 'missing', output: byId.get(id)?.output ?? null }));
      if (step.as === 'list') return { type: 'succeeded', output: parts, event: { steps: parts.length } };
      if (step.as === 'first') {
        const first = parts.find((p) => p.status === 'succeeded');
        return { type: 'succeeded', output: first?.output ?? null, event: { steps: parts.length, ...(first ? { from: first.step } : {}) } };
      }
      const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
      const output = parts.map((p) => `### ${p.step}\n${p.status === 'succeeded' ? text(p.output) : `(${p.status})`}`).join('\n\n');
      return { type: 'succeeded', output, event: { steps: parts.length } };
    },
  };
}
