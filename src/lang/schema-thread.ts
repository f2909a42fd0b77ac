/**
 * A schema thread's entry (see schema-checker.ts): compiles schemas and validates answers with
 * json-schema.ts, one message at a time, so a slow compile never holds up the event loop of the
 * process that asked. Its compiled schemas are cached here, in the thread, within the budget
 * it is given (workerData.cacheBytes).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { schemaErrors, schemaProblem, setSchemaCacheBytes } from './json-schema.js';

/**
 * What a lane asks: the problem of a schema, or the errors of an answer against one. Both the
 * schema and the answer travel as JSON text (the caller has it already; a string is cheaper to
 * hand over than an object to clone).
 */
export type SchemaRequest = { id: number; op: 'problem'; schema: string } | { id: number; op: 'errors'; schema: string; value: string };
export type SchemaReply = { ready: true } | { id: number; problem: string | null } | { id: number; errors: string[] } | { id: number; failure: string };
/** What the thread is started with. */
export interface SchemaThreadData {
  cacheBytes: number;
}

function answer(req: SchemaRequest): SchemaReply {
  try {
    const schema = JSON.parse(req.schema) as Record<string, unknown>;
    if (req.op === 'problem') return { id: req.id, problem: schemaProblem(schema, req.schema) ?? null };
    const problem = schemaProblem(schema, req.schema);
    if (problem) return { id: req.id, failure: `the output schema ${problem}` };
    return { id: req.id, errors: schemaErrors(schema, JSON.parse(req.value), req.schema) };
  } catch (err) {
    return { id: req.id, failure: err instanceof Error ? err.message : String(err) };
  }
}

const port = parentPort;
if (port) {
  const data = workerData as Partial<SchemaThreadData> | undefined;
  if (data?.cacheBytes) setSchemaCacheBytes(data.cacheBytes);
  // Nothing here awaits, but a stray rejection must never end the thread (and with it the
  // request it is working on): it is dropped, the thread's answers go on.
  process.on('unhandledRejection', () => undefined);
  port.on('message', (req: SchemaRequest) => port.postMessage(answer(req)));
  port.postMessage({ ready: true } satisfies SchemaReply);
}
