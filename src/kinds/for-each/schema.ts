/**
 * `kind: forEach`: one step per item of a list taken from an earlier output or the input
 * (`items`, one template), run on `step.agent` with `{{item}}` and `{{index}}` in its input.
 * Outputs come back in item order.
 */
import { z } from 'zod';
import { JsonObject } from '../../model/json.js';
import { OutputSpec } from '../../model/output.js';
import { COMPILED_FIELDS, STEP_FIELDS, StepInput } from '../../model/step.js';

export const ForEachStepDefinition = z
  .object({
    ...STEP_FIELDS,
    kind: z.literal('forEach'),
    /** One template giving a list, e.g. `{{steps.find.output.companies}}` or `{{input.items}}`. */
    items: z.string().min(1),
    /** The step run for each item; its input may also read `{{item}}` (and its fields) and `{{index}}`. */
    step: z.object({ agent: z.string().min(1), input: StepInput, output: OutputSpec.optional() }).strict(),
    /** Most items; beyond it the step fails, or takes the first `maxItems` with `truncate: true`. */
    maxItems: z.number().int().min(1).max(1000).default(100),
    truncate: z.boolean().default(false),
    /** At most this many items running at once (default: all). */
    concurrency: z.number().int().min(1).max(1000).optional(),
    /** An empty list ends the whole run early, `succeeded` (instead of skipping this step). */
    stopWhenEmpty: z.boolean().default(false),
  })
  .strict();

export const CompiledForEachStep = z.object({
  ...COMPILED_FIELDS,
  kind: z.literal('forEach'),
  items: z.string(),
  step: z.object({ agent: z.string(), input: StepInput, outputSchema: JsonObject.optional() }),
  maxItems: z.number().int().min(1).max(1000),
  truncate: z.boolean(),
  concurrency: z.number().int().min(1).optional(),
  stopWhenEmpty: z.boolean(),
});
