import { z } from 'zod';

/** How the answers of a vote are compared: a field of a structured answer, numbers within a tolerance. */
export const VoteCompare = z
  .object({
    /** Dot path of the field compared, inside `answer` (default: the answer itself). */
    field: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/)
      .optional(),
    /** Numbers this close count as the same answer. Default 0. */
    numberTolerance: z.number().nonnegative().default(0),
  })
  .strict();
