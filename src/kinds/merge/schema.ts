/**
 * `kind: merge`: a deep merge of the JSON object outputs of steps; where they disagree (a
 * scalar or a list with different values) the step first in `priority` wins, and every
 * conflict is listed.
 */
import { z } from 'zod';
import { COMPILED_FIELDS, STEP_FIELDS, StepId } from '../../model/step.js';

export const MergeStepDefinition = z
  .object({
    ...STEP_FIELDS,
    kind: z.literal('merge'),
    /** The steps whose outputs are merged (default: its `dependsOn`). */
    of: z.array(StepId).min(1).optional(),
    /** Who wins a conflict, first first (default: the order of `of`). */
    priority: z.array(StepId).optional(),
  })
  .strict();

export const CompiledMergeStep = z.object({
  ...COMPILED_FIELDS,
  kind: z.literal('merge'),
  of: z.array(z.string()),
  /** Conflict order: every step of `of`, the winner first. */
  priority: z.array(z.string()),
});
