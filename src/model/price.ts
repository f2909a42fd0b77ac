/** What a model's tokens cost, as the agents file's `pricing:` gives it (USD per million tokens). */
import { z } from 'zod';

export const ModelPrice = z
  .object({
    /** USD per million input tokens. */
    inputPerMTok: z.number().nonnegative(),
    /** USD per million output tokens. */
    outputPerMTok: z.number().nonnegative(),
  })
  .strict();
export type ModelPrice = z.infer<typeof ModelPrice>;
