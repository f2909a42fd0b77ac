/**
 * JSON Schema for structured outputs (an agent's or a step's `output.schema`), through ajv:
 * a schema is checked where it is declared (a bad one is a clear configuration error), and an
 * answer is validated against it, with each problem as `path: message`.
 *
 * Every `pattern` and `patternProperties` key runs on RE2 (re2js), a linear-time engine, for
 * every schema whatever its source: the string tested is a model's answer, which a request can
 * steer, so a backtracking pattern (`^(a+)+$`) from the agents file would freeze a worker as
 * surely as one from a request. RE2 has no lookaround and no backreferences: such a pattern is
 * refused where the schema is declared, naming it.
 *
 * Compiling can still take long for a big schema (ajv's code for `oneOf` grows with the square
 * of its branches): schemaBoundsProblem bounds a schema before anything compiles it, and the
 * API and the workers compile and validate in a thread (schema-checker.ts).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';
import { z } from 'zod';
import type { Limits } from '../config/env.js';
import { JsonObject } from './json-object.js';

/** A pattern RE2 cannot run; its message names the pattern. */
export class UnsupportedPatternError extends Error {}

/** ajv's RegExpLike over RE2: `test` is linear in the length of the string. */
function re2(pattern: string, flags: string): { test(s: string): boolean; toString(): string } {
  let compiled: RE2JS;
  try {
    // JSON Schema patterns are ECMAScript: named groups and \u{...} escapes are translated.
    compiled = RE2JS.compile(RE2JS.translateRegExp(pattern));
  } catch (err) {
    const reason = err instanceof Error ? err.message.replace(/^error parsing regexp: /, '') : String(err);
    throw new UnsupportedPatternError(
      `pattern ${JSON.stringify(pattern.length > 200 ? `${pattern.slice(0, 200)}...` : pattern)} cannot be used: ${reason} (patterns run on RE2, a linear-time engine: no lookahead, lookbehind or backreferences)`,
    );
  }
  // ajv keys compiled patterns by this text.
  return { test: (s: string) => compiled.test(s), toString: () => `/${pattern}/${flags}` };
}
re2.code = 're2';

const ajv = new Ajv({ allErrors: true, strict: false, code: { regExp: re2 } });
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

const NOT_AN_OBJECT_SCHEMA = 'must be a JSON Schema of an object (type: object): a tool call carries an object';

/**
 * Why `schema` is not a usable JSON Schema (an object schema), or undefined. It compiles the
 * schema here, on this thread: for trusted schemas at start-up and in the schema thread.
 */
export function schemaProblem(schema: Record<string, unknown>): string | undefined {
  if (schema.type !== 'object') return NOT_AN_OBJECT_SCHEMA;
  try {
    validatorOf(schema);
    return undefined;
  } catch (err) {
    if (err instanceof UnsupportedPatternError) return err.message;
    return `is not a valid JSON Schema: ${(err as Error).message}`;
  }
}

/** The problems of `value` against `schema` (`/path: message`), empty when it fits. */
export function schemaErrors(schema: Record<string, unknown>, value: unknown): string[] {
  const validate = validatorOf(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? 'is invalid'}`);
}

export type SchemaBounds = Pick<Limits, 'maxSchemaChars' | 'maxSchemaKeywords'>;

/**
 * Why `schema` is too big to compile (naming the limit), or undefined: its length as JSON and
 * the number of keys of all its objects (keywords and property names). Cheap and iterative:
 * it runs on the event loop before anything compiles the schema.
 */
export function schemaBoundsProblem(schema: Record<string, unknown>, bounds: SchemaBounds): string | undefined {
  const chars = JSON.stringify(schema).length;
  if (chars > bounds.maxSchemaChars) return `is ${chars} characters of JSON; at most ${bounds.maxSchemaChars} (SWITCHYARD_MAX_SCHEMA_CHARS)`;
  let keys = 0;
  const stack: unknown[] = [schema];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    const values = Array.isArray(v) ? v : Object.values(v);
    if (!Array.isArray(v)) keys += values.length;
    if (keys > bounds.maxSchemaKeywords) return `has more than ${bounds.maxSchemaKeywords} keywords and property names; at most ${bounds.maxSchemaKeywords} (SWITCHYARD_MAX_SCHEMA_KEYWORDS)`;
    for (const item of values) stack.push(item);
  }
  return undefined;
}

/**
 * `output: {schema}` of a workflow step: a JSON object schema. Only the cheap checks here: the
 * compiler bounds it (limits.ts) and it is compiled off the event loop (schema-checker.ts), or
 * at start-up for the flows/ files.
 */
export const OutputSpec = z
  .object({ schema: JsonObject })
  .strict()
  .superRefine((o, ctx) => {
    if (o.schema.type !== 'object') ctx.addIssue({ code: 'custom', path: ['schema'], message: NOT_AN_OBJECT_SCHEMA });
  });
export type OutputSpec = z.infer<typeof OutputSpec>;

/** `output: {schema}` of an agent (the agents file, read at start-up): compiled as it is read. */
export const CompiledOutputSpec = z
  .object({ schema: JsonObject })
  .strict()
  .superRefine((o, ctx) => {
    const problem = schemaProblem(o.schema);
    if (problem) ctx.addIssue({ code: 'custom', path: ['schema'], message: problem });
  });
