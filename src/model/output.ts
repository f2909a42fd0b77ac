/**
 * `output: {schema}` of an agent or a step: the answer is a JSON object that fits `schema`.
 * Only the cheap checks here: the compiler bounds a step's schema and compiles it off the event
 * loop (src/lang/schema-checker.ts); the agents file's are compiled as it is read
 * (src/agents/registry.ts).
 */
import { z } from 'zod';
import { JsonObject } from './json.js';

export const NOT_AN_OBJECT_SCHEMA = 'must be a JSON Schema of an object (type: object): a tool call carries an object';

export const OutputSpec = z
  .object({ schema: JsonObject })
  .strict()
  .superRefine((o, ctx) => {
    if (o.schema.type !== 'object') ctx.addIssue({ code: 'custom', path: ['schema'], message: NOT_AN_OBJECT_SCHEMA });
  });
export type OutputSpec = z.infer<typeof OutputSpec>;
