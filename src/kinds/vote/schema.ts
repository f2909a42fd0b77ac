/**
 * `kind: vote`: consensus. The same question to several agents (each a child step whose answer
 * is structured `{answer, confidence, rationale}`), the answers normalised and grouped, each
 * weighted by confidence × the agent's `authority`; `consensus` when the winning group's
 * share of the weight is at least `minAgreement`. Or, with `of`, a vote over the outputs of
 * steps that ran already (seed 001's hierarchical `vote` aggregation): each output is a vote
 * (a structured `{answer, confidence}`, or any other output as the answer, confidence 1).
 */
import { z } from 'zod';
import { COMPILED_FIELDS, STEP_FIELDS, StepId, StepInput } from '../../model/step.js';
import { VoteCompare } from '../../model/vote-compare.js';

export const VoteStepDefinition = z
  .object({
    ...STEP_FIELDS,
    kind: z.literal('vote'),
    question: StepInput.optional(),
    /** Who answers: each an agent, optionally with its own task (default: the question's). */
    voters: z
      .array(z.object({ agent: z.string().min(1), task: z.string().min(1).optional() }).strict())
      .min(2)
      .max(50)
      .optional(),
    /** Instead of question and voters: the steps whose outputs are the votes (each an ancestor). */
    of: z.array(StepId).min(2).max(100).optional(),
    minAgreement: z.number().gt(0).max(1).default(0.5),
    compare: VoteCompare.optional(),
    /**
     * End the vote as soon as this many answers agree, or as soon as no answer can reach it:
     * the voters still answering are cancelled (their calls aborted, never paid).
     */
    quorum: z.number().int().min(2).optional(),
  })
  .strict();

export const CompiledVoteStep = z.object({
  ...COMPILED_FIELDS,
  kind: z.literal('vote'),
  question: StepInput.optional(),
  /** Empty with `of`. */
  voters: z.array(z.object({ agent: z.string(), task: z.string().optional() })),
  of: z.array(z.string()).optional(),
  minAgreement: z.number(),
  compare: z.object({ field: z.string().optional(), numberTolerance: z.number() }).optional(),
  quorum: z.number().int().optional(),
});
