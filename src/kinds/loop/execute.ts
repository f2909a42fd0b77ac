/**
 * `kind: loop`: a refinement loop, run by the engine on its control queue. Each iteration adds
 * a draft step `<loop>.<n>.draft` (the body's agent; from the second iteration on, with the
 * previous draft and the critic's feedback in its context), waits for it without a worker
 * slot, then adds a critique step `<loop>.<n>.critique` (the critic's agent, with the draft in
 * its context) whose answer is a structured verdict `{approved, score?, feedback}`, and waits
 * again. It stops with a reason: `approved`, `until` (its expression over `verdict` and
 * `iteration` holds) or `maxIterations`. Every draft and verdict stays a step of the run.
 *
 * The checkpoint says which child it waits for, so a delivery after a crash re-adds the same
 * step (adding an id again adds nothing) and never starts an iteration twice.
 */
import { NonRetryableError } from '../../errors/index.js';
import type { StepRecord } from '../../model/run.js';
import type { CompiledStepOf, StepInput } from '../definition.js';
import { agentChild, type ChildStep, type StepExecutor } from '../executor.js';
import type { TemplateScope } from '../../lang/templates.js';
import { evaluateFor, renderFor, scopeOf } from '../shared/scope.js';

/** The critic's answer. */
export interface Verdict {
  approved: boolean;
  score?: number;
  feedback: string;
}

export const VERDICT_SCHEMA: Record<string, unknown> = {
  type: 'object',
  properties: {
    approved: { type: 'boolean', description: 'true when the draft fully meets the task' },
    score: { type: 'number', description: 'quality from 0 to 10' },
    feedback: { type: 'string', description: 'what to change, concretely (or why it is good)' },
  },
  required: ['approved', 'feedback'],
};

export type LoopReason = 'approved' | 'until' | 'maxIterations';

interface LoopCheckpoint {
  loop: 1;
  iteration: number;
  /** The child it waits for; `draft` carries the draft of this iteration once known. */
  waiting: { phase: 'draft' } | { phase: 'critique'; draft: unknown } | null;
  /** The last iteration's draft and verdict, for the next draft. */
  last: { draft: unknown; verdict: Verdict } | null;
}

export function loopExecutor(): StepExecutor<'loop'> {
  return {
    async execute(step, ctx) {
      const body = renderFor(step.body.input, ctx, "the loop's inputs");
      const critic = step.critic.input ? renderFor(step.critic.input, ctx, "the loop's inputs") : undefined;
      const cp: LoopCheckpoint = isLoopCheckpoint(ctx.checkpoint) ? structuredClone(ctx.checkpoint) : { loop: 1, iteration: 0, waiting: null, last: null };
      const n = cp.iteration;

      if (cp.waiting && !ctx.resumed) {
        // Delivered again before its child finished: (re)add it (nothing is added twice), wait.
        await ctx.addSteps([cp.waiting.phase === 'draft' ? draftStep(step, body, n, cp.last) : critiqueStep(step, body, critic, n, cp.waiting.draft)]);
        return { type: 'wait' };
      }
      if (cp.waiting?.phase === 'draft') {
        const draft = succeeded(await ctx.steps([ids(step.id, n).draft]), ids(step.id, n).draft);
        cp.waiting = { phase: 'critique', draft: draft.output };
        await ctx.saveCheckpoint(cp);
        await ctx.addSteps([critiqueStep(step, body, critic, n, draft.output)]);
        ctx.progress({ iteration: n, phase: 'critique' });
        return { type: 'wait' };
      }
      if (cp.waiting?.phase === 'critique') {
        const draft = cp.waiting.draft;
        const verdict = succeeded(await ctx.steps([ids(step.id, n).critique]), ids(step.id, n).critique).output as Verdict;
        const reason = stopReason(step, verdict, n, scopeOf(ctx));
        if (reason) {
          return { type: 'succeeded', output: { draft, verdict, iterations: n, reason }, event: { iterations: n, reason } };
        }
        cp.last = { draft, verdict };
      }
      // The next iteration: its draft first.
      cp.iteration = n + 1;
      cp.waiting = { phase: 'draft' };
      await ctx.saveCheckpoint(cp);
      await ctx.addSteps([draftStep(step, body, cp.iteration, cp.last)]);
      ctx.progress({ iteration: cp.iteration, phase: 'draft' });
      return { type: 'wait' };
    },
  };
}

const ids = (loop: string, n: number) => ({ draft: `${loop}.${n}.draft`, critique: `${loop}.${n}.critique` });

function stopReason(step: CompiledStepOf<'loop'>, verdict: Verdict, iteration: number, scope: TemplateScope): LoopReason | null {
  if (verdict.approved) return 'approved';
  if (step.until !== undefined) {
    if (evaluateFor(step.until, { ...scope, vars: { verdict, iteration } }, 'until')) return 'until';
  }
  return iteration >= step.maxIterations ? 'maxIterations' : null;
}

/** The one record asked for, succeeded (a loop's children are required: a failure ends the run first). */
function succeeded(records: StepRecord[], id: string): StepRecord {
  const r = records[0];
  if (r?.status !== 'succeeded') throw new NonRetryableError(`loop step "${id}" ${r ? `ended ${r.status}${r.error ? `: ${r.error}` : ''}` : 'is missing'}`);
  return r;
}

function draftStep(step: CompiledStepOf<'loop'>, body: StepInput, n: number, last: LoopCheckpoint['last']): ChildStep {
  const input = last ? { task: body.task, context: { ...body.context, iteration: n, previousDraft: last.draft, feedback: last.verdict.feedback } } : body;
  return agentChild(ids(step.id, n).draft, step.body.agent, input);
}

function critiqueStep(step: CompiledStepOf<'loop'>, body: StepInput, critic: StepInput | undefined, n: number, draft: unknown): ChildStep {
  const base = critic ?? {
    task: `Review the draft against its task and decide whether to approve it. Approve only a draft that fully meets the task.\n\nThe task: ${body.task}`,
  };
  return agentChild(
    ids(step.id, n).critique,
    step.critic.agent,
    { task: base.task, context: { ...base.context, iteration: n, draft } },
    { outputSchema: VERDICT_SCHEMA },
  );
}

function isLoopCheckpoint(v: unknown): v is LoopCheckpoint {
  return v !== null && typeof v === 'object' && (v as LoopCheckpoint).loop === 1;
}
