/**
 * Aggregation kinds, run by the engine on its control queue with no LLM call of their own.
 *
 * `concat`: the outputs of the steps it names, in order: a text with each output under a
 * `### <step>` heading (`as: text`), a list `[{step, status, output}]` (`as: list`), or the
 * output of the first that succeeded (`as: first`: a fix when one ran, else the draft).
 *
 * `merge`: a deep merge of the JSON object outputs of the steps it names (a text holding JSON
 * is parsed): objects merge key by key; where values differ (scalars, lists, or an object
 * against a scalar), the step first in `priority` wins, and the conflict is listed with every
 * value. Output `{merged, conflicts: [{path, chosen, values: [{step, value}]}]}`.
 *
 * `synthesize`: an agent step (on its agent's pool) given the outputs of the steps it names in
 * its context as `inputs: {<step>: output}`: the agent executor runs it as one call.
 *
 * `vote`: consensus (seed 001's execute_consensus, seed 003's weighted synthesis). Each voter
 * answers the question in a child step `<vote>.<i>.<agent>` with a structured
 * `{answer, confidence, rationale}`; the answers are normalised (case, whitespace,
 * punctuation; or a field of a structured answer, numbers within `numberTolerance`) and
 * grouped; each weighs confidence × its agent's `authority`. The output says whether there is
 * consensus (the winning group's share of the weight ≥ `minAgreement`), the winning answer,
 * the agreement, every vote and the groups, and for numeric answers the weighted score
 * Σ(answer·confidence·authority) / Σ(confidence·authority).
 */
import type { AgentRegistry } from '../../agents/registry.js';
import { NonRetryableError } from '../../errors/index.js';
import type { StepRecord } from '../../model/run.js';
import type { CompiledStepOf, JoinWatch } from '../definition.js';
import { parseOutputJson, readPath } from '../../lang/templates.js';
import { agentChild, type StepExecutor } from '../executor.js';
import { renderFor } from './agent.js';

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

export interface MergeConflict {
  path: string;
  chosen: string;
  values: { step: string; value: unknown }[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function mergeExecutor(): StepExecutor<'merge'> {
  return {
    execute(step, ctx) {
      const byId = new Map(ctx.reads.map((r) => [r.stepId, r]));
      const inputs = step.priority.flatMap((id) => {
        const r = byId.get(id);
        if (r?.status !== 'succeeded') return [];
        const value = typeof r.output === 'string' ? parseOutputJson(r.output) : r.output;
        if (!isObject(value))
          throw new NonRetryableError(
            `merge needs JSON objects; step "${id}" answered ${typeof r.output === 'string' ? 'a text without a JSON object' : JSON.stringify(r.output)?.slice(0, 80)}`,
          );
        return [{ step: id, value }];
      });
      const conflicts: MergeConflict[] = [];
      const merged = mergeAt('', inputs, conflicts);
      return { type: 'succeeded', output: { merged, conflicts }, event: { merged: inputs.length, conflicts: conflicts.length } };
    },
  };
}

/** Merge `inputs` (the winner first) at `path`; conflicts are appended to `conflicts`. */
function mergeAt(path: string, inputs: { step: string; value: unknown }[], conflicts: MergeConflict[]): unknown {
  if (inputs.every((i) => isObject(i.value))) {
    const keys = [...new Set(inputs.flatMap((i) => Object.keys(i.value as object)))];
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const here = inputs.filter((i) => Object.hasOwn(i.value as object, k)).map((i) => ({ step: i.step, value: (i.value as Record<string, unknown>)[k] }));
      Object.defineProperty(out, k, { value: mergeAt(path ? `${path}.${k}` : k, here, conflicts), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  const distinct = new Set(inputs.map((i) => JSON.stringify(i.value)));
  if (distinct.size > 1) conflicts.push({ path: path || '(root)', chosen: inputs[0]!.step, values: inputs });
  return inputs[0]!.value;
}

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

export interface Vote {
  step: string;
  agent: string;
  answer: unknown;
  confidence: number;
  rationale: string;
  weight: number;
}

export interface VoteGroup {
  answer: unknown;
  weight: number;
  share: number;
  steps: string[];
}

export function voteExecutor(deps: { registry: AgentRegistry }): StepExecutor<'vote'> {
  return {
    async execute(step, ctx) {
      if (step.of) {
        // A vote over outputs recorded already: no one is asked (the records name each one's agent).
        const byId = new Map((await ctx.steps(step.of)).map((r) => [r.stepId, r]));
        const votes = step.of.flatMap((id): Vote[] => {
          const r = byId.get(id);
          return r?.status === 'succeeded' ? [outputVote(id, r.output, r.agent, deps.registry)] : [];
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
      const votes = ids.flatMap((id, i): Vote[] => voteOf(records.get(id), step.voters[i]!.agent, deps.registry));
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

/** Lower case, no punctuation, single spaces: "Yes." and " yes" are one answer. */
export const normaliseAnswer = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** What of an answer is compared: the field `compare.field` names, or the answer itself. */
export const comparedAnswer = (answer: unknown, compare: { field?: string | undefined } | undefined): unknown =>
  compare?.field ? readPath(answer, compare.field.split('.')) : answer;

/** The key an answer is grouped by (a text normalised), and whether two keys are one answer (numbers within `tolerance`). */
export const answerKey = (value: unknown): unknown => (typeof value === 'string' ? normaliseAnswer(value) : value);
export const sameAnswer = (a: unknown, b: unknown, tolerance: number): boolean =>
  typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) <= tolerance : JSON.stringify(a) === JSON.stringify(b);

type Compare = { field?: string | undefined; numberTolerance?: number } | undefined;

/** The answers that agree, as groups of their indexes in first-seen order (normalised texts; numbers within the tolerance). */
function groupAnswers(answers: readonly unknown[], compare: Compare): number[][] {
  const tolerance = compare?.numberTolerance ?? 0;
  const groups: { key: unknown; members: number[] }[] = [];
  answers.forEach((a, i) => {
    const key = answerKey(comparedAnswer(a, compare));
    const g = groups.find((x) => sameAnswer(key, x.key, tolerance));
    if (g) g.members.push(i);
    else groups.push({ key, members: [i] });
  });
  return groups.map((g) => g.members);
}

export function tally(votes: readonly Vote[], step: Pick<CompiledStepOf<'vote'>, 'minAgreement' | 'compare'>) {
  const compared = votes.map((v) => comparedAnswer(v.answer, step.compare));
  const groups = groupAnswers(
    votes.map((v) => v.answer),
    step.compare,
  ).map((members) => ({
    answer: votes[members[0]!]!.answer,
    weight: members.reduce((n, i) => n + votes[i]!.weight, 0),
    steps: members.map((i) => votes[i]!.step),
  }));
  const total = groups.reduce((n, g) => n + g.weight, 0);
  // All confidences 0: every vote counts the same.
  const share = (g: (typeof groups)[number]) => (total > 0 ? g.weight / total : g.steps.length / votes.length);
  const ranked: VoteGroup[] = groups.map((g) => ({ answer: g.answer, weight: g.weight, share: share(g), steps: g.steps })).sort((a, b) => b.share - a.share);
  const top = ranked[0]!;
  const tie = ranked.length > 1 && ranked[1]!.share === top.share;
  const numeric = compared.every((x) => typeof x === 'number');
  const weightSum = votes.reduce((n, v) => n + v.weight, 0);
  return {
    consensus: !tie && top.share >= step.minAgreement,
    winningResult: tie ? null : top.answer,
    agreement: top.share,
    minAgreement: step.minAgreement,
    votes,
    groups: ranked,
    ...(numeric && weightSum > 0 ? { weightedScore: votes.reduce((n, v, i) => n + (compared[i] as number) * v.weight, 0) / weightSum } : {}),
  };
}

/** The size of the largest group of answers that agree (compared as a vote compares them). */
export function maxAgreeing(answers: readonly unknown[], compare: Compare): number {
  return groupAnswers(answers, compare).reduce((n, g) => Math.max(n, g.length), 0);
}
