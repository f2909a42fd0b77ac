/**
 * Schema work off the event loop: threads (schema-thread.ts) compile the `output.schema`s
 * requests bring and validate structured answers. ajv's compile of a schema within the bounds
 * can still take a while, and the API must go on answering meanwhile, a worker renewing its
 * job locks.
 *
 * Two lanes, each its own thread and bounded queue (schema-lane.ts): the API's compiles, and
 * the workers' answer checks. A process that serves both (`npm start`) never makes a step's
 * check wait behind a client's compiles, nor the other way round; within a lane, the queue cap
 * and the deadline from when a request is queued bound how long any request waits (503 past
 * them). A request may carry an AbortSignal (a step's): it is dropped from the queue on abort.
 */
import { DEFAULT_BOUNDS, type Bounds } from '../config/env.js';
import { excerpt } from '../errors/excerpt.js';
import { SchemaLane, SchemaMemoryError, SchemaTimeoutError, SchemaUnavailableError } from './schema-lane.js';
import type { SchemaReply } from './schema-thread.js';

export { SchemaMemoryError, SchemaTimeoutError, SchemaUnavailableError };

/** What a schema request may carry. */
export interface SchemaAsk {
  /** Aborts the request: it rejects with the signal's reason, and leaves the queue if it had not started. */
  signal?: AbortSignal | undefined;
}

/** What the engine and the catalog need of schemas: both asynchronous, neither on the event loop. */
export interface SchemaValidator {
  /** Why `schema` is not a usable object schema (compiled in a thread), or undefined. `text`: its JSON, when the caller has it. */
  problem(schema: Record<string, unknown>, opts?: SchemaAsk & { text?: string }): Promise<string | undefined>;
  /** The problems of `value` against `schema` (`/path: message`), empty when it fits. */
  errors(schema: Record<string, unknown>, value: unknown, opts?: SchemaAsk): Promise<string[]>;
}

export type SchemaCheckerOptions = Pick<Bounds, 'schemaTimeoutMs' | 'maxValidatedChars'> &
  Partial<Pick<Bounds, 'schemaDeadlineMs' | 'schemaQueueMax' | 'schemaCacheBytes' | 'schemaThreadMb'>>;

const unexpected = (reply: SchemaReply): Error =>
  new Error('failure' in reply ? reply.failure : `unexpected reply from the schema thread: ${excerpt(JSON.stringify(reply))}`);

export class SchemaChecker implements SchemaValidator {
  /** The API's compiles of the schemas requests bring. */
  private readonly compiles: SchemaLane;
  /** The workers' checks of structured answers. */
  private readonly checks: SchemaLane;

  constructor(private readonly opts: SchemaCheckerOptions) {
    const lane = {
      timeoutMs: opts.schemaTimeoutMs,
      deadlineMs: opts.schemaDeadlineMs ?? DEFAULT_BOUNDS.schemaDeadlineMs,
      queueMax: opts.schemaQueueMax ?? DEFAULT_BOUNDS.schemaQueueMax,
      cacheBytes: opts.schemaCacheBytes ?? DEFAULT_BOUNDS.schemaCacheBytes,
      threadMb: opts.schemaThreadMb ?? DEFAULT_BOUNDS.schemaThreadMb,
    };
    this.compiles = new SchemaLane({ ...lane, what: 'compiling the output schema' });
    this.checks = new SchemaLane({ ...lane, what: 'checking the answer against the output schema' });
  }

  async problem(schema: Record<string, unknown>, opts: SchemaAsk & { text?: string } = {}): Promise<string | undefined> {
    const reply = await this.compiles.ask({ op: 'problem', schema: opts.text ?? JSON.stringify(schema) }, opts.signal);
    if ('problem' in reply) return reply.problem ?? undefined;
    // Not the request's fault (a compile's every problem is a `problem`): a 503, never a 500.
    throw new SchemaUnavailableError(unexpected(reply).message);
  }

  async errors(schema: Record<string, unknown>, value: unknown, opts: SchemaAsk = {}): Promise<string[]> {
    const text = JSON.stringify(value) ?? 'null';
    const max = this.opts.maxValidatedChars;
    if (text.length > max)
      return [`(root): the answer is ${text.length} characters of JSON; at most ${max} are checked against the output schema (SWITCHYARD_MAX_VALIDATED_CHARS)`];
    const reply = await this.checks.ask({ op: 'errors', schema: JSON.stringify(schema), value: text }, opts.signal);
    if ('errors' in reply) return reply.errors;
    throw unexpected(reply);
  }

  /** Requests waiting and working, per lane. */
  stats(): { compiles: ReturnType<SchemaLane['stats']>; checks: ReturnType<SchemaLane['stats']> } {
    return { compiles: this.compiles.stats(), checks: this.checks.stats() };
  }

  /** End both threads; pending and later requests fail (SchemaUnavailableError). */
  async close(): Promise<void> {
    await Promise.all([this.compiles.close(), this.checks.close()]);
  }
}
