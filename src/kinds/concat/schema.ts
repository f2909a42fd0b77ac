/** `kind: concat`: the outputs of steps, in order, labelled by step (text), as a list with each one's status, or the first that succeeded. */
import { z } from 'zod';
import { COMPILED_FIELDS, STEP_FIELDS, StepId } from '../../model/step.js';

export const ConcatStepDefinition = z
  .object({
    ...STEP_FIELDS,
    kind: z.literal('concat'),
    /** The steps, in order (default: its `dependsOn`). */
    of: z.array(StepId).min(1).optional(),
    /** `first`: the output of the first of them that succeeded (null when none did). */
    as: z.enum(['text', 'list', 'first']).default('text'),
  })
  .strict();

export const CompiledConcatStep = z.object({
  ...COMPILED_FIELDS,
  kind: z.literal('concat'),
  of: z.array(z.string()),
  as: z.enum(['text', 'list', 'first']),
});
