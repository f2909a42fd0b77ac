/**
 * `kind: synthesize`: an agent step that receives the outputs of the steps it names (by step
 * id, in its context as `inputs`) beside its own input: the LLM aggregation.
 */
import { z } from 'zod';
import { COMPILED_FIELDS, STEP_FIELDS, StepId, StepInput } from '../../model/step.js';

export const SynthesizeStepDefinition = z
  .object({
    ...STEP_FIELDS,
    kind: z.literal('synthesize'),
    agent: z.string().min(1),
    input: StepInput,
    /** The steps whose outputs it receives (default: its `dependsOn`). */
    of: z.array(StepId).min(1).optional(),
  })
  .strict();

export const CompiledSynthesizeStep = z.object({
  ...COMPILED_FIELDS,
  kind: z.literal('synthesize'),
  agent: z.string(),
  input: StepInput,
  of: z.array(z.string()),
});
