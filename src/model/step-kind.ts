/**
 * The names of the step kinds. Each kind is a folder of src/kinds/ (its schema, compile rule
 * and executor); records and events only need its name, so the name lives here, on the ground
 * floor, and src/kinds/ must define exactly these (its types check it).
 */
import { z } from 'zod';

export const STEP_KINDS = ['agent', 'loop', 'forEach', 'plan', 'approval', 'vote', 'concat', 'merge', 'synthesize', 'http'] as const;
export const StepKind = z.enum(STEP_KINDS);
export type StepKind = z.infer<typeof StepKind>;
export const DEFAULT_STEP_KIND: StepKind = 'agent';
