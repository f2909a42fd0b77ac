import { z } from 'zod';

/** What a run may spend; past a limit it halts as `budget_exceeded`. */
export const Budget = z
  .object({
    maxCostUsd: z.number().positive().optional(),
    maxTokens: z.number().int().positive().optional(),
    /** Most steps whose result is recorded. */
    maxSteps: z.number().int().positive().optional(),
    /** How long the run may take from its submission, in ms: a step that begins later halts it. */
    deadlineMs: z.number().int().positive().optional(),
  })
  .strict();
export type Budget = z.infer<typeof Budget>;

