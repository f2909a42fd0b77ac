/**
 * JSON Schema for structured outputs (an agent's or a step's `output.schema`), through ajv:
 * a schema is checked where it is declared (a bad one is a clear configuration error), and an
 * answer is validated against it, with each problem as `path: message`.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import { JsonObject } from './json-object.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new Map<string, ValidateFunction>();
/** Distinct schemas kept compiled; past it, all are dropped (inline workflows bring any number). */
const MAX_COMPILED = 500;

function validatorOf(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (!v) {
    if (compiled.size >= MAX_COMPILED) {
      compiled.clear();
      ajv.removeSchema();
    }
    // A schema's own `$id` would register it globally: two schemas with one id would clash.
    const { $id: _id, ...anonymous } = schema;
    compiled.set(key, (v = ajv.compile(anonymous)));
  }
  return v;
}

/** Why `schema` is not a usable JSON Schema (an object schema), or undefined. */
export function schemaProblem(schema: Record<string, unknown>): string | undefined {
  if (schema.type !== 'object') return 'must be a JSON Schema of an object (type: object): a tool call carries an object';
  try {
    validatorOf(schema);
    return undefined;
  } catch (err) {
    return `is not a valid JSON Schema: ${(err as Error).message}`;
  }
}

/** The problems of `value` against `schema` (`/path: message`), empty when it fits. */
export function schemaErrors(schema: Record<string, unknown>, value: unknown): string[] {
  const validate = validatorOf(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? 'is invalid'}`);
}

/** `output: {schema}` of an agent or a step: the answer is a JSON object that fits `schema`. */
export const OutputSpec = z
  .object({ schema: JsonObject })
  .strict()
  .superRefine((o, ctx) => {
    const problem = schemaProblem(o.schema);
    if (problem) ctx.addIssue({ code: 'custom', path: ['schema'], message: problem });
  });
export type OutputSpec = z.infer<typeof OutputSpec>;
