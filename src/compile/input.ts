/**
 * Run input validation. A workflow's `input` block declares fields; from it we generate one zod
 * object schema (strict: unknown fields are refused) and map zod's issues to `input.<field>`
 * paths with messages a caller can act on.
 */
import { z } from 'zod';
import { ValidationError, type Issue } from '../errors/index.js';
import type { CompiledWorkflow, InputField } from '../kinds/definition.js';
import { JsonObject } from '../model/json.js';

/** The zod type of a field's value, without required/default handling. */
export function fieldValueSchema(type: InputField['type']): z.ZodType {
  switch (type) {
    case 'string':
      return z.string();
    case 'number':
      return z.number(); // zod 4 refuses NaN and ±Infinity
    case 'boolean':
      return z.boolean();
    case 'object':
      return JsonObject; // arrays and null are refused; every own key is kept
    case 'array':
      return z.array(z.unknown());
  }
}

/** Built once per declared field set (a compiled workflow keeps the same object). */
const schemas = new WeakMap<Record<string, InputField>, z.ZodType<Record<string, unknown>>>();

function inputSchema(fields: Record<string, InputField>): z.ZodType<Record<string, unknown>> {
  let schema = schemas.get(fields);
  if (!schema) schemas.set(fields, (schema = buildInputSchema(fields)));
  return schema;
}

function buildInputSchema(fields: Record<string, InputField>) {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, field] of Object.entries(fields)) {
    const value = fieldValueSchema(field.type);
    if (field.default !== undefined) {
      // A fresh copy per run, so one run cannot mutate the default another run sees.
      const def = field.default;
      shape[name] = value.default(() => structuredClone(def));
    } else {
      shape[name] = field.required ? value : value.optional();
    }
  }
  return z.strictObject(shape);
}

/** What a value is, for messages: `typeof`, but `null` and `array` named as such. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * Validate `input` against declared `fields`, apply defaults, and return the clean input.
 * Issue paths are `${prefix}.<field>` (prefix `input` for runs, `schedule.input` for schedules).
 */
export function validateInputFields(fields: Record<string, InputField>, input: unknown, prefix = 'input'): Record<string, unknown> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    const message = `${prefix} must be an object, got ${kindOf(input)}`;
    throw new ValidationError(message, [{ path: prefix, message }]);
  }
  const result = inputSchema(fields).safeParse(input);
  if (result.success) return result.data;

  const declared = Object.keys(fields).sort();
  const declaredText = declared.length ? `declared fields: ${declared.join(', ')}` : 'this workflow declares no input fields';
  const issues: Issue[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ path: `${prefix}.${key}`, message: `unknown input field "${key}"; ${declaredText}` });
      continue;
    }
    const [field] = issue.path;
    const name = String(field);
    const path = field === undefined ? prefix : `${prefix}.${name}`;
    const declaredType = fields[name]?.type;
    const given = field === undefined ? input : (input as Record<string, unknown>)[name];
    // An `object` field is checked by a custom test (JsonObject), the others by zod's types.
    const typeIssue = issue.code === 'invalid_type' || (issue.code === 'custom' && declaredType === 'object');
    if (typeIssue && declaredType && issue.path.length === 1) {
      issues.push({
        path,
        message: given === undefined ? `required field is missing (type ${declaredType})` : `expected ${declaredType}, got ${kindOf(given)}`,
      });
    } else {
      issues.push({ path, message: issue.message });
    }
  }
  const message = `invalid ${prefix}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
  throw new ValidationError(message, issues);
}

/** Validate a run's input against its workflow's declared fields; returns it with defaults applied. */
export function validateRunInput(wf: CompiledWorkflow, input: unknown): Record<string, unknown> {
  return validateInputFields(wf.input, input);
}
