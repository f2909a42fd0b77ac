/**
 * The fields of a collaboration pattern (POST /v1/runs {pattern, ...}, POST /v1/chat/multi, a
 * pattern block of a workflow): vocabulary shared by the API's schemas and the workflow
 * schema. What each pattern becomes is src/compile/patterns.ts.
 */
import { z } from 'zod';
import { JsonObject } from './json.js';
import { VoteCompare } from './vote-compare.js';

export const PatternTask = z.object({ agent: z.string().min(1), task: z.string().min(1), context: JsonObject.optional() }).strict();
export type PatternTask = z.infer<typeof PatternTask>;
const Tasks = z.array(PatternTask).min(1).max(50);

export const PatternFields = {
  sequential: { pattern: z.literal('sequential'), tasks: Tasks, strict: z.boolean().default(true) },
  parallel: { pattern: z.literal('parallel'), tasks: Tasks, strict: z.boolean().default(false) },
  hierarchical: {
    pattern: z.literal('hierarchical'),
    /** The main task; `tasks` are its subtasks. */
    task: z.string().min(1),
    tasks: Tasks,
    aggregate: z.enum(['concat', 'merge', 'vote', 'synthesize']).default('concat'),
    /** With `aggregate: vote`: the agreement needed for consensus. */
    minAgreement: z.number().gt(0).max(1).default(0.5),
    /** The agent that synthesizes (with `aggregate: synthesize`). */
    synthesizer: z.string().min(1).optional(),
  },
  consensus: {
    pattern: z.literal('consensus'),
    question: z.string().min(1),
    agents: z.array(z.string().min(1)).min(2).max(50),
    minAgreement: z.number().gt(0).max(1).default(0.5),
    compare: VoteCompare.optional(),
    /** End as soon as this many answers agree (or none can): the others are cancelled. */
    quorum: z.number().int().min(2).optional(),
  },
} as const;

/** A pattern request as parsed (the API's schemas build their objects from PatternFields). */
export type PatternRequest = { [K in keyof typeof PatternFields]: z.output<z.ZodObject<(typeof PatternFields)[K]>> }[keyof typeof PatternFields];
