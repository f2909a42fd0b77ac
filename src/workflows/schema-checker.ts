/**
 * Schema work off the event loop: one thread per process (schema-thread.ts) compiles the
 * `output.schema`s requests bring and validates structured answers, one request at a time.
 * ajv's compile of a schema within the bounds can still take a second (a `oneOf` of a thousand
 * branches), and the API must go on answering meanwhile, a worker renewing its job locks.
 *
 * A request that takes longer than `timeoutMs` ends the thread (the only way to stop a compile)
 * and fails with SchemaTimeoutError; the next request starts a new thread. The thread is
 * started on first use and does not keep the process alive.
 */
import { Worker } from 'node:worker_threads';
import type { Limits } from '../config/env.js';
import type { SchemaReply, SchemaRequest } from './schema-thread.js';

/** A schema compile or check that took longer than its limit (SWITCHYARD_SCHEMA_TIMEOUT_MS). */
export class SchemaTimeoutError extends Error {}

/** What the engine and the catalog need of schemas: both asynchronous, neither on the event loop. */
export interface SchemaValidator {
  /** Why `schema` is not a usable object schema (compiled in the thread), or undefined. */
  problem(schema: Record<string, unknown>): Promise<string | undefined>;
  /** The problems of `value` against `schema` (`/path: message`), empty when it fits. */
  errors(schema: Record<string, unknown>, value: unknown): Promise<string[]>;
}

type Request = { op: 'problem'; schema: Record<string, unknown> } | { op: 'errors'; schema: Record<string, unknown>; value: string };
interface Pending {
  req: Request;
  resolve: (reply: SchemaReply) => void;
  reject: (err: Error) => void;
}

/** The thread's entry: the .ts source under tsx and vitest (loaded through tsx's API), the built .js otherwise. */
function startThread(): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(`./schema-thread.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  if (!fromSource) return new Worker(entry);
  const api = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(entry.href)}, ${JSON.stringify(entry.href)}))`, { eval: true });
}

export class SchemaChecker implements SchemaValidator {
  private thread: { worker: Worker; ready: boolean } | undefined;
  private readonly queue: Pending[] = [];
  private active: { id: number; pending: Pending; timer: NodeJS.Timeout | undefined } | undefined;
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: Pick<Limits, 'schemaTimeoutMs' | 'maxValidatedChars'>) {}

  async problem(schema: Record<string, unknown>): Promise<string | undefined> {
    const reply = await this.ask({ op: 'problem', schema });
    if ('problem' in reply) return reply.problem ?? undefined;
    throw new Error(`unexpected reply from the schema thread: ${JSON.stringify(reply)}`);
  }

  async errors(schema: Record<string, unknown>, value: unknown): Promise<string[]> {
    const text = JSON.stringify(value) ?? 'null';
    const max = this.opts.maxValidatedChars;
    if (text.length > max) return [`(root): the answer is ${text.length} characters of JSON; at most ${max} are checked against the output schema (SWITCHYARD_MAX_VALIDATED_CHARS)`];
    const reply = await this.ask({ op: 'errors', schema, value: text });
    if ('errors' in reply) return reply.errors;
    throw new Error('failure' in reply ? reply.failure : `unexpected reply from the schema thread: ${JSON.stringify(reply)}`);
  }

  /** End the thread; pending and later requests fail. */
  async close(): Promise<void> {
    this.closed = true;
    const failed = new Error('the schema checker is closed');
    for (const p of this.queue.splice(0)) p.reject(failed);
    if (this.active) this.finish(this.active.id)?.reject(failed);
    const worker = this.thread?.worker;
    this.thread = undefined;
    await worker?.terminate();
  }

  private ask(req: Request): Promise<SchemaReply> {
    if (this.closed) return Promise.reject(new Error('the schema checker is closed'));
    return new Promise<SchemaReply>((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  /** Send the next request once the thread is ready and idle. */
  private pump(): void {
    if (this.active || this.queue.length === 0 || this.closed) return;
    const thread = this.thread ?? this.start();
    if (!thread.ready) return;
    const pending = this.queue.shift()!;
    const id = this.nextId++;
    // The time limit runs from when the thread gets the request, not while it waits its turn.
    const timer = setTimeout(() => this.timeOut(id), this.opts.schemaTimeoutMs).unref();
    this.active = { id, pending, timer };
    thread.worker.postMessage({ id, ...pending.req } satisfies SchemaRequest);
  }

  private start(): { worker: Worker; ready: boolean } {
    const worker = startThread();
    const thread = { worker, ready: false };
    this.thread = thread;
    worker.unref();
    worker.on('message', (reply: SchemaReply) => {
      if ('ready' in reply) {
        thread.ready = true;
      } else {
        this.finish(reply.id)?.resolve(reply);
      }
      this.pump();
    });
    worker.on('error', (err: Error) => this.lost(thread, err));
    worker.on('exit', (code) => this.lost(thread, new Error(`the schema thread exited (code ${code})`)));
    return thread;
  }

  /** The active request `id`, now no longer active. */
  private finish(id: number): Pending | undefined {
    if (this.active?.id !== id) return undefined;
    const { pending, timer } = this.active;
    clearTimeout(timer);
    this.active = undefined;
    return pending;
  }

  private timeOut(id: number): void {
    const pending = this.finish(id);
    if (!pending) return;
    const what = pending.req.op === 'problem' ? 'compiling the output schema' : 'checking the answer against the output schema';
    pending.reject(new SchemaTimeoutError(`${what} took longer than ${this.opts.schemaTimeoutMs} ms (SWITCHYARD_SCHEMA_TIMEOUT_MS); use a smaller schema`));
    const worker = this.thread?.worker;
    this.thread = undefined;
    void worker?.terminate();
    this.pump();
  }

  /** The thread died (or could not start): its request fails; a thread that never started fails them all. */
  private lost(thread: { worker: Worker; ready: boolean }, err: Error): void {
    if (this.thread !== thread) return;
    this.thread = undefined;
    if (this.active) this.finish(this.active.id)?.reject(err);
    if (!thread.ready) for (const p of this.queue.splice(0)) p.reject(err);
    this.pump();
  }
}
