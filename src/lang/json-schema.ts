/**
 * JSON Schema for structured outputs (an agent's or a step's `output.schema`), through ajv:
 * a schema is checked where it is declared (a bad one is a clear configuration error), and an
 * answer is validated against it, with each problem as `path: message`.
 *
 * Every `pattern` and `patternProperties` key runs on RE2 (re2js), a linear-time engine, for
 * every schema whatever its source: the string tested is a model's answer, which a request can
 * steer, so a backtracking pattern (`^(a+)+$`) from the agents file would freeze a worker as
 * surely as one from a request. RE2 has no lookaround and no backreferences: such a pattern is
 * refused where the schema is declared, naming it. `uniqueItems` is checked in linear time too
 * (ajv's own compares every pair of items). `$async` schemas are refused: their validator
 * answers with a Promise, which this module's callers never wait for.
 *
 * Compiling can still take long for a big schema (ajv's code for `oneOf` grows with the square
 * of its branches): schemaBoundsProblem bounds a schema before anything compiles it, and the
 * API and the workers compile and validate in threads (schema-checker.ts).
 *
 * Each schema is compiled by an ajv instance of its own, and compiled schemas are kept by the
 * size of their generated code (least recently used dropped first): one shared instance keeps
 * every schema it ever compiled in its scope, whatever a cache drops.
 */
import { Ajv, type FuncKeywordDefinition, type SchemaValidateFunction, type ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';
import type { Bounds } from '../config/env.js';
import { excerpt } from '../errors/excerpt.js';
import { NOT_AN_OBJECT_SCHEMA } from '../model/output.js';

/** A schema this module cannot use (a pattern RE2 cannot run, `$async`); its message says why. */
export class UnsupportedSchemaError extends Error {}

/** ajv's RegExpLike over RE2: `test` is linear in the length of the string. */
function re2(pattern: string, flags: string): { test(s: string): boolean; toString(): string } {
  let compiled: RE2JS;
  try {
    // JSON Schema patterns are ECMAScript: named groups and \u{...} escapes are translated.
    compiled = RE2JS.compile(RE2JS.translateRegExp(pattern));
  } catch (err) {
    const reason = err instanceof Error ? err.message.replace(/^error parsing regexp: /, '') : String(err);
    throw new UnsupportedSchemaError(
      `pattern ${JSON.stringify(excerpt(pattern))} cannot be used: ${reason} (patterns run on RE2, a linear-time engine: no lookahead, lookbehind or backreferences)`,
    );
  }
  // ajv keys compiled patterns by this text.
  return { test: (s: string) => compiled.test(s), toString: () => `/${pattern}/${flags}` };
}
re2.code = 're2';

/** A JSON value as text with every object's keys sorted: two values are deep-equal when their texts are. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/**
 * `uniqueItems` in linear time: each item's canonical text in a map, where ajv's own keyword
 * compares every pair of items (a 150 KB answer of objects took seconds). Same message as ajv's.
 */
const checkUnique: SchemaValidateFunction = (unique: boolean, data: unknown[]): boolean => {
  if (!unique) return true;
  const seen = new Map<string, number>();
  // From the end, as ajv does: the message names the later item first.
  for (let i = data.length - 1; i >= 0; i--) {
    const key = canonical(data[i]) ?? 'undefined';
    const j = seen.get(key);
    if (j !== undefined) {
      checkUnique.errors = [{ keyword: 'uniqueItems', params: { i, j }, message: `must NOT have duplicate items (items ## ${j} and ${i} are identical)` }];
      return false;
    }
    seen.set(key, i);
  }
  return true;
};
const uniqueItems: FuncKeywordDefinition = {
  keyword: 'uniqueItems',
  type: 'array',
  schemaType: 'boolean',
  errors: true,
  validate: checkUnique,
};

/** Checks schemas against the JSON Schema meta-schema only (compiled once, holds no user schema). */
const meta = new Ajv({ allErrors: true, strict: false });

/** A fresh instance for one schema: dropping its validator frees everything it compiled. */
function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false, addUsedSchema: false, code: { regExp: re2 } });
  ajv.removeKeyword('uniqueItems');
  ajv.addKeyword(uniqueItems);
  return ajv;
}

/** Most characters of generated code (and schema text) kept compiled, unless configured (SWITCHYARD_SCHEMA_CACHE_BYTES). */
export const DEFAULT_SCHEMA_CACHE_BYTES = 8 * 1024 * 1024;

/** Compiled schemas by their JSON text, least recently used first, each with its size. */
const compiled = new Map<string, { validate: ValidateFunction; size: number }>();
let cacheBytes = 0;
let cacheBudget = DEFAULT_SCHEMA_CACHE_BYTES;

/** How much compiled code this thread keeps (the schema threads are given SWITCHYARD_SCHEMA_CACHE_BYTES). */
export function setSchemaCacheBytes(budget: number): void {
  cacheBudget = budget;
  evict();
}

/** What the cache holds now (tests, and the threads' stats). */
export function schemaCacheStats(): { schemas: number; bytes: number; budget: number } {
  return { schemas: compiled.size, bytes: cacheBytes, budget: cacheBudget };
}

/** Whether `schema` is compiled and kept now. */
export function isCompiled(schema: Record<string, unknown>): boolean {
  return compiled.has(JSON.stringify(schema));
}

function evict(): void {
  for (const [key, entry] of compiled) {
    if (cacheBytes <= cacheBudget) return;
    compiled.delete(key);
    cacheBytes -= entry.size;
  }
}

/** `schema` compiled; `text` is its JSON when the caller has it already. */
function validatorOf(schema: Record<string, unknown>, text = JSON.stringify(schema)): ValidateFunction {
  const hit = compiled.get(text);
  if (hit) {
    // Most recently used: to the end.
    compiled.delete(text);
    compiled.set(text, hit);
    return hit.validate;
  }
  if (!meta.validateSchema(schema)) throw new Error(`schema is invalid: ${meta.errorsText(meta.errors)}`);
  const validate = newAjv().compile(schema);
  if ((validate as { $async?: boolean }).$async) throw new UnsupportedSchemaError('uses "$async": asynchronous schemas are not supported (leave out $async)');
  const size = String(validate).length + text.length;
  compiled.set(text, { validate, size });
  cacheBytes += size;
  evict();
  return validate;
}

/**
 * Why `schema` is not a usable JSON Schema (an object schema), or undefined. It compiles the
 * schema here, on this thread: for trusted schemas at start-up and in the schema threads.
 * `text` is its JSON when the caller has it already.
 */
export function schemaProblem(schema: Record<string, unknown>, text?: string): string | undefined {
  if (schema.type !== 'object') return NOT_AN_OBJECT_SCHEMA;
  try {
    validatorOf(schema, text);
    return undefined;
  } catch (err) {
    if (err instanceof UnsupportedSchemaError) return err.message;
    return `is not a valid JSON Schema: ${(err as Error).message}`;
  }
}

/** The problems of `value` against `schema` (`/path: message`), empty when it fits. */
export function schemaErrors(schema: Record<string, unknown>, value: unknown, text?: string): string[] {
  const validate = validatorOf(schema, text);
  const fits: unknown = validate(value);
  // Never a Promise (validatorOf refuses $async schemas); if one came, it must not read as "fits".
  if (typeof fits !== 'boolean') throw new UnsupportedSchemaError('an asynchronous schema cannot check an answer');
  if (fits) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? 'is invalid'}`);
}

export type SchemaBounds = Pick<Bounds, 'maxSchemaChars' | 'maxSchemaKeywords' | 'maxSchemaBranches'>;

/** Keywords whose compiled code grows faster than their size (ajv's oneOf: with the square of its branches). */
const BRANCHING = ['oneOf', 'anyOf'];

/**
 * Why `schema` is too big to compile (naming the limit), or undefined: its length as JSON, the
 * number of keys of all its objects (keywords and property names), and the branches of each
 * oneOf/anyOf. Cheap and iterative: it runs on the event loop before anything compiles the
 * schema. `text` is the schema's JSON, for the caller to reuse.
 */
export function schemaBoundsProblem(schema: Record<string, unknown>, bounds: SchemaBounds, text = JSON.stringify(schema)): string | undefined {
  const chars = text.length;
  if (chars > bounds.maxSchemaChars) return `is ${chars} characters of JSON; at most ${bounds.maxSchemaChars} (SWITCHYARD_MAX_SCHEMA_CHARS)`;
  let keys = 0;
  const stack: unknown[] = [schema];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
      continue;
    }
    const entries = Object.entries(v);
    keys += entries.length;
    if (keys > bounds.maxSchemaKeywords)
      return `has more than ${bounds.maxSchemaKeywords} keywords and property names; at most ${bounds.maxSchemaKeywords} (SWITCHYARD_MAX_SCHEMA_KEYWORDS)`;
    for (const [key, item] of entries) {
      if (BRANCHING.includes(key) && Array.isArray(item) && item.length > bounds.maxSchemaBranches) {
        return `has a ${key} of ${item.length} branches; at most ${bounds.maxSchemaBranches} (SWITCHYARD_MAX_SCHEMA_BRANCHES)`;
      }
      stack.push(item);
    }
  }
  return undefined;
}
