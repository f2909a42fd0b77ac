/**
 * The `output.schema`s of a workflow's steps (each kind's rule says where its own are: see
 * KindRule.schemas): bounded while it compiles (cheap, on the event loop), then compiled by ajv:
 * at once for definitions read at start-up, off the event loop (schema-checker.ts) for those a
 * request brings. Each schema is turned into JSON text once, here, and that text goes along.
 */
import { ValidationError, type Issue } from '../errors/index.js';
import type { StepDefinition, StepKind } from '../kinds/definition.js';
import { schemaBoundsProblem, schemaProblem, type SchemaBounds } from '../lang/json-schema.js';
import { ruleOf } from '../kinds/rules.js';
import { SchemaTimeoutError, type SchemaValidator } from '../lang/schema-checker.js';

/** A step's schema found by the compiler: where it is, and its JSON text. */
export interface FoundSchema {
  path: string;
  schema: Record<string, unknown>;
  text: string;
}

/** What the compiler does with a step's schema once it is within the bounds (CompileOptions.schemas). */
export type SchemaHandling = 'compile' | ((found: FoundSchema) => void);

/** The problems of a step's schemas (`path` is the step's place in the document). */
export function stepSchemaIssues(def: StepDefinition, path: string, bounds: SchemaBounds, handling: SchemaHandling = 'compile'): Issue[] {
  const issues: Issue[] = [];
  for (const { at, schema } of ruleOf<StepKind>(def.kind).schemas(def)) {
    const where = `${path}.${at}`;
    const text = JSON.stringify(schema);
    const problem = schemaBoundsProblem(schema, bounds, text) ?? (handling === 'compile' ? schemaProblem(schema, text) : undefined);
    if (problem) issues.push({ path: where, message: problem });
    else if (handling !== 'compile') handling({ path: where, schema, text });
  }
  return issues;
}

/**
 * Compile each schema (found by the compiler, within the bounds) with `checker`, off the event
 * loop; the same schema once. Throws a ValidationError naming each refused one (a schema too
 * costly to compile included); `what` names the workflow in the message. A checker that cannot
 * take the work now throws its SchemaUnavailableError (503).
 */
export async function checkSchemas(found: readonly FoundSchema[], checker: SchemaValidator, what: string): Promise<void> {
  const byText = new Map<string, { paths: string[]; schema: Record<string, unknown> }>();
  for (const { path, schema, text } of found) {
    const entry = byText.get(text);
    if (entry) entry.paths.push(path);
    else byText.set(text, { paths: [path], schema });
  }
  const issues: Issue[] = [];
  for (const [text, { paths, schema }] of byText) {
    let problem: string | undefined;
    try {
      problem = await checker.problem(schema, { text });
    } catch (err) {
      if (!(err instanceof SchemaTimeoutError)) throw err;
      problem = err.message;
    }
    if (problem) for (const path of paths) issues.push({ path, message: problem });
  }
  if (issues.length === 0) return;
  const list = issues.map((i) => `\n  - ${i.path}: ${i.message}`).join('');
  throw new ValidationError(`${what} is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):${list}`, issues);
}
