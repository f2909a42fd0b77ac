/**
 * `kind: vote`: consensus (seed 001's execute_consensus, seed 003's weighted synthesis). Each
 * voter answers the question in a child step `<vote>.<i>.<agent>` with a structured
 * `{answer, confidence, rationale}`; the answers are normalised and grouped
 * (shared/agreement.ts) and tallied (tally.ts). Or, with `of`, a vote over outputs recorded
 * already: no one is asked.
 */
import type { AgentRegistry } from '../../agents/registry.js';
import { NonRetryableError } from '../../errors/index.js';
import type { StepRecord } from '../../model/run.js';
import type { JoinWatch } from '../../model/step.js';
import { parseOutputJson } from '../../lang/templates.js';
import { agentChild, type StepExecutor } from '../executor.js';
import { renderFor } from '../shared/scope.js';
import { tally, type Vote } from './tally.js';

export const VOTE_SCHEMA: Record<string, unknown> = {
  type: 'object',
  properties: {
    answer: { description: 'your answer, as short as it can be' },
    confidence: { type: 'number', minimum: 0, maximum: 1, examples: [0.8], description: 'how sure you are, 0 to 1' },
    rationale: { type: 'string', description: 'why, in a sentence or two' },
  },
  required: ['answer', 'confidence', 'rationale'],
};
/** Without `compare.field`, the answer is a scalar. */
const SCALAR_VOTE_SCHEMA = {
  ...VOTE_SCHEMA,
  properties: { ...(VOTE_SCHEMA.properties as object), answer: { type: ['string', 'number', 'boolean'], description: 'your answer, as short as it can be' } },
};

export function voteExecutor(): StepExecutor<'vote'> {
  return {
    async execute(step, ctx) {
      if (step.of) {
        // A vote over outputs recorded already: no one is asked (the records name each one's agent).
        const byId = new Map((await ctx.steps(step.of)).map((r) => [r.stepId, r]));
        const votes = step.of.flatMap((id): Vote[] => {
          const r = byId.get(id);
          return r?.status === 'succeeded' ? [outputVote(id, r.output, r.agent, ctx.agents)] : [];
        });
        if (votes.length === 0)
          throw new NonRetryableError(
            `none of the steps voted on succeeded (${step.of.map((id) => `${id}: ${byId.get(id)?.status ?? 'missing'}`).join(', ')})`,
          );
        return { type: 'succeeded', output: tally(votes, step), event: { votes: votes.length, of: step.of.length } };
      }
      const question = renderFor(step.question!, ctx, 'the question');
      const ids = step.voters.map((v, i) => `${step.id}.${i + 1}.${v.agent}`);
      if (!ctx.resumed) {
        const schema = step.compare?.field ? VOTE_SCHEMA : SCALAR_VOTE_SCHEMA;
        // With a quorum, each voter's ending looks at the vote (see src/flow/joins.ts).
        const watch: JoinWatch[] | undefined =
          step.quorum === undefined
            ? undefined
            : [
                {
                  step: step.id,
                  label: 'quorum',
                  need: step.quorum,
                  agree: { field: step.compare?.field, numberTolerance: step.compare?.numberTolerance ?? 0 },
                  members: ids,
                },
              ];
        await ctx.addSteps(
          step.voters.map((v, i) =>
            agentChild(
              ids[i]!,
              v.agent,
              { ...question, task: v.task ?? question.task },
              { outputSchema: schema, optional: true, ...(watch ? { joinOf: watch } : {}) },
            ),
          ),
        );
        return { type: 'wait' };
      }
      const records = new Map((await ctx.steps(ids)).map((r) => [r.stepId, r]));
      const votes = ids.flatMap((id, i): Vote[] => voteOf(records.get(id), step.voters[i]!.agent, ctx.agents));
      if (votes.length === 0)
        throw new NonRetryableError(`no voter answered (${ids.map((id) => `${id}: ${records.get(id)?.status ?? 'missing'}`).join(', ')})`);
      const result = tally(votes, step);
      const agreeing = Math.max(...result.groups.map((g) => g.steps.length));
      const quorum =
        step.quorum === undefined
          ? {}
          : { quorum: { need: step.quorum, reached: agreeing >= step.quorum, cancelled: ids.filter((id) => records.get(id)?.status === 'cancelled') } };
      return { type: 'succeeded', output: { ...result, ...quorum }, event: { votes: votes.length, of: ids.length } };
    },
  };
}

type VoteFields = { answer?: unknown; confidence?: unknown; rationale?: unknown };

/** One vote: its confidence clamped to 0–1 (`missing` when it gives none), weighed by its agent's authority. */
function makeVote(step: string, agent: string, registry: AgentRegistry, answer: unknown, o: VoteFields | undefined, missing: number): Vote {
  const confidence = typeof o?.confidence === 'number' ? Math.min(1, Math.max(0, o.confidence)) : missing;
  return { step, agent, answer, confidence, rationale: typeof o?.rationale === 'string' ? o.rationale : '', weight: confidence * registry.authorityOf(agent) };
}

/** A step's output as a vote: a structured `{answer, confidence, rationale}`, or the output itself as the answer (confidence 1). */
function outputVote(stepId: string, output: unknown, agent: string | null | undefined, registry: AgentRegistry): Vote {
  const parsed = typeof output === 'string' ? (parseOutputJson(output) ?? output) : output;
  const o = parsed !== null && typeof parsed === 'object' && 'answer' in parsed ? (parsed as VoteFields) : undefined;
  return makeVote(stepId, agent ?? '', registry, o ? o.answer : output, o, 1);
}

/** A voter's structured answer as a vote (none unless it succeeded with one; no confidence counts 0). */
function voteOf(r: StepRecord | undefined, agent: string, registry: AgentRegistry): Vote[] {
  if (r?.status !== 'succeeded' || r.output === null || typeof r.output !== 'object') return [];
  const o = r.output as VoteFields;
  return [makeVote(r.stepId, agent, registry, o.answer ?? null, o, 0)];
}
