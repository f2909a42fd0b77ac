/**
 * The schema thread's entry (see schema-checker.ts): compiles schemas and validates answers
 * with json-schema.ts, one message at a time, so a slow compile never holds up the event loop
 * of the process that asked. Its compiled schemas are cached here, in the thread.
 */
import { parentPort } from 'node:worker_threads';
import { schemaErrors, schemaProblem } from './json-schema.js';

/** What the checker asks: the problem of a schema, or the errors of an answer (JSON text) against one. */
export type SchemaRequest = { id: number; op: 'problem'; schema: Record<string, unknown> } | { id: number; op: 'errors'; schema: Record<string, unknown>; value: string };
export type SchemaReply = { ready: true } | { id: number; problem: string | null } | { id: number; errors: string[] } | { id: number; failure: string };

function answer(req: SchemaRequest): SchemaReply {
  try {
    if (req.op === 'problem') return { id: req.id, problem: schemaProblem(req.schema) ?? null };
    const problem = schemaProblem(req.schema);
    if (problem) return { id: req.id, failure: `the output schema ${problem}` };
    return { id: req.id, errors: schemaErrors(req.schema, JSON.parse(req.value)) };
  } catch (err) {
    return { id: req.id, failure: err instanceof Error ? err.message : String(err) };
  }
}

const port = parentPort;
if (port) {
  port.on('message', (req: SchemaRequest) => port.postMessage(answer(req)));
  port.postMessage({ ready: true } satisfies SchemaReply);
}
