/**
 * `kind: loop`: work that refines itself until a critic approves. Each iteration is a draft by
 * `body.agent` (from the second on, with the previous draft and the critic's feedback in its
 * context), then a critique by `critic.agent`, whose answer is a structured verdict
 * `{approved, score?, feedback}`. It ends when the verdict approves, when `until` (an
 * expression over `verdict` and `iteration`) holds, or after `maxIterations`.
 */
import { z } from 'zod';
import { COMPILED_FIELDS, STEP_FIELDS, StepInput } from '../../model/step.js';

/** An agent call inside the loop (its body). */
const AgentCall = z.object({ agent: z.string().min(1), input: StepInput }).strict();

export const LoopStepDefinition = z
  .object({
    ...STEP_FIELDS,
    kind: z.literal('loop'),
    body: AgentCall,
    /** Without `input`, the critic is asked to review the draft against the body's task. */
    critic: z.object({ agent: z.string().min(1), input: StepInput.optional() }).strict(),
    until: z.string().min(1).optional(),
    maxIterations: z.number().int().min(1).max(20).default(3),
  })
  .strict();

export const CompiledLoopStep = z.object({
  ...COMPILED_FIELDS,
  kind: z.literal('loop'),
  body: z.object({ agent: z.string(), input: StepInput }),
  critic: z.object({ agent: z.string(), input: StepInput.optional() }),
  until: z.string().optional(),
  maxIterations: z.number().int().min(1).max(20),
});
