/** What a model's tokens cost, as the agents file's `pricing:` gives it (USD per million tokens). */
import { z } from 'zod';

export const ModelPrice = z
  .object({
    /** USD per million input tokens. */
    inputPerMTok: z.number().nonnegative(),
    /** USD per million output tokens. */
    outputPerMTok: z.number().nonnegative(),
    /** USD per million input tokens read from the prompt cache. Default: the provider's rate for the model (src/calls/pricing.ts), else the input price. */
    cacheReadPerMTok: z.number().nonnegative().optional(),
    /** USD per million input tokens written to the prompt cache (Anthropic: 1.25 × input). Default: as for cacheReadPerMTok. */
    cacheWritePerMTok: z.number().nonnegative().optional(),
  })
  .strict();
export type ModelPrice = z.infer<typeof ModelPrice>;
