/**
 * `kind: approval`: a gate that waits, without a worker slot, until someone approves or rejects
 * it over the API, or until `timeoutMs` (then `onTimeout` applies). The workflow's `automation`
 * decides which gates wait (see Automation).
 */
import { z } from 'zod';
import { COMPILED_FIELDS, STEP_FIELDS, StepId, StepInput } from '../../model/step.js';

/** Which approval gates wait for a human (seed 002's automation modes), per workflow. */
export const Automation = z.enum(['full_autonomous', 'assisted', 'manual', 'hybrid']);
export type Automation = z.infer<typeof Automation>;

export const ApprovalStepDefinition = z
  .object({
    ...STEP_FIELDS,
    kind: z.literal('approval'),
    /** What the approver is asked and shown (templates allowed), e.g. the draft to publish. */
    input: StepInput.optional(),
    /** A gate that waits this long decides by itself (`timeoutMs` of the common fields). */
    onTimeout: z.enum(['approve', 'reject']).default('reject'),
    /**
     * A rejection fails the step (and the run, unless optional), skips it (and what needs it),
     * or sends the comment back to the `review` step as feedback: a revision runs, and the gate
     * waits for a decision on it (at most `maxRevisions` times, then a rejection fails).
     */
    onReject: z.enum(['fail', 'skip', 'revise']).default('fail'),
    /** The agent step under review (an ancestor of the gate): what `revise` revises. */
    review: StepId.optional(),
    maxRevisions: z.number().int().min(1).max(10).default(2),
    /** Under `assisted` automation, only gates marked publish wait. */
    publish: z.boolean().default(false),
    /** Under `hybrid` automation, the gate waits when one of these expressions is true. */
    rules: z.array(z.string().min(1)).default([]),
  })
  .strict();

export const CompiledApprovalStep = z.object({
  ...COMPILED_FIELDS,
  kind: z.literal('approval'),
  input: StepInput.optional(),
  onTimeout: z.enum(['approve', 'reject']),
  onReject: z.enum(['fail', 'skip', 'revise']),
  /** The step under review, and what a revision of it runs (its agent; its input is the one it ran with). */
  review: z.object({ stepId: z.string(), agent: z.string() }).optional(),
  maxRevisions: z.number().int().min(1).max(10),
  publish: z.boolean(),
  rules: z.array(z.string()),
  /** The workflow's automation mode, which decides whether this gate waits. */
  automation: Automation,
});
