/**
 * The `output.schema`s of a workflow's steps: bounded while it compiles (cheap, on the event
 * loop), then compiled by ajv: at once for definitions read at start-up, off the event loop
 * (schema-checker.ts) for those a request brings.
 */
import { ValidationError, type Issue } from '../errors/index.js';
import type { StepDefinition } from './definition.js';
import { schemaBoundsProblem, schemaProblem, type SchemaBounds } from './json-schema.js';
import { SchemaTimeoutError, type SchemaValidator } from './schema-checker.js';

/** What the compiler does with a step's schema once it is within the bounds (CompileOptions.schemas). */
export type SchemaHandling = 'compile' | ((path: string, schema: Record<string, unknown>) => void);

/** The output schemas a step definition declares, with where they are below it. */
function schemasOf(def: StepDefinition): { at: string; schema: Record<string, unknown> }[] {
  if (def.kind === 'agent' && def.output) return [{ at: 'output.schema', schema: def.output.schema }];
  if (def.kind === 'forEach' && def.step.output) return [{ at: 'step.output.schema', schema: def.step.output.schema }];
  return [];
}

/** The problems of a step's schemas (`path` is the step's place in the document). */
export function stepSchemaIssues(def: StepDefinition, path: string, bounds: SchemaBounds, handling: SchemaHandling = 'compile'): Issue[] {
  const issues: Issue[] = [];
  for (const { at, schema } of schemasOf(def)) {
    const where = `${path}.${at}`;
    const problem = schemaBoundsProblem(schema, bounds) ?? (handling === 'compile' ? schemaProblem(schema) : undefined);
    if (problem) issues.push({ path: where, message: problem });
    else if (handling !== 'compile') handling(where, schema);
  }
  return issues;
}

/**
 * Compile each schema (found by the compiler, within the bounds) with `checker`, off the event
 * loop; the same schema once. Throws a ValidationError naming each refused one (a schema too
 * slow to compile included); `what` names the workflow in the message.
 */
export async function checkSchemas(found: readonly { path: string; schema: Record<string, unknown> }[], checker: SchemaValidator, what: string): Promise<void> {
  const byText = new Map<string, { paths: string[]; schema: Record<string, unknown> }>();
  for (const { path, schema } of found) {
    const key = JSON.stringify(schema);
    const entry = byText.get(key);
    if (entry) entry.paths.push(path);
    else byText.set(key, { paths: [path], schema });
  }
  const issues: Issue[] = [];
  for (const { paths, schema } of byText.values()) {
    let problem: string | undefined;
    try {
      problem = await checker.problem(schema);
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
