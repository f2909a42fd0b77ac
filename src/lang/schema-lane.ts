/**
 * One schema thread and its queue (see schema-checker.ts, which keeps one lane for the API's
 * compiles and one for the workers' answer checks). Requests go to the thread one at a time,
 * in order. Every request ends, each way with its own error:
 *
 * - the queue is full, or the request waited past its deadline (counted from when it was
 *   queued), or the thread is lost twice while on it, or the lane is closed: SchemaUnavailableError
 *   (503: not the request's fault; try again);
 * - its own work takes longer than the time limit, or more memory than the thread has:
 *   SchemaTimeoutError (the schema is too costly: 422, or a failed step);
 * - its AbortSignal fires: the signal's reason (dropped from the queue if it had not started).
 *
 * A thread can only be stopped by ending it: a request cut short ends its thread, and the next
 * request starts a new one. Threads do not keep the process alive, and close() ends them.
 */
import { Worker } from 'node:worker_threads';
import { toError, UnavailableError } from '../errors/index.js';
import type { SchemaReply, SchemaRequest, SchemaThreadData } from './schema-thread.js';

/** A schema compile or check that took longer than its limit (SWITCHYARD_SCHEMA_TIMEOUT_MS). */
export class SchemaTimeoutError extends Error {}
/** A schema compile or check that needed more memory than its thread has (SWITCHYARD_SCHEMA_THREAD_MB): as costly as a timeout. */
export class SchemaMemoryError extends SchemaTimeoutError {}
/** The schema threads cannot take the request now (busy, lost, closed): 503. */
export class SchemaUnavailableError extends UnavailableError {
  constructor(message: string) {
    super(message, 'schema_busy');
  }
}

export interface LaneOptions {
  /** What its requests do, for messages ("compiling the output schema"). */
  what: string;
  timeoutMs: number;
  deadlineMs: number;
  queueMax: number;
  cacheBytes: number;
  threadMb: number;
}

export type LaneRequest = { op: 'problem'; schema: string } | { op: 'errors'; schema: string; value: string };

interface Pending {
  req: LaneRequest;
  queuedAt: number;
  settle(outcome: { reply: SchemaReply } | { error: Error }): void;
  /** Its deadline while it waits in the queue. */
  timer: NodeJS.Timeout | undefined;
  /** Sent again once already, after its thread was lost. */
  retried: boolean;
  settled: boolean;
}

interface Thread {
  worker: Worker;
  ready: boolean;
}

/** Schema threads alive in this process (a test fails the file that leaves one). */
const alive = new Set<Worker>();
export const liveSchemaThreads = (): number => alive.size;

/** The thread's entry: the .ts source under tsx and vitest (loaded through tsx's API), the built .js otherwise. */
function startThread(data: SchemaThreadData, threadMb: number): Worker {
  const options = { workerData: data, resourceLimits: { maxOldGenerationSizeMb: threadMb } };
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(`./schema-thread.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  if (!fromSource) return new Worker(entry, options);
  const api = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(entry.href)}, ${JSON.stringify(entry.href)}))`, {
    eval: true,
    ...options,
  });
}

export class SchemaLane {
  private thread: Thread | undefined;
  private readonly queue: Pending[] = [];
  private active: { id: number; pending: Pending; timer: NodeJS.Timeout; ownLimit: boolean } | undefined;
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: LaneOptions) {}

  /** Requests waiting, and whether one is being worked on. */
  stats(): { queued: number; active: boolean } {
    return { queued: this.queue.length, active: this.active !== undefined };
  }

  ask(req: LaneRequest, signal?: AbortSignal): Promise<SchemaReply> {
    const { what, queueMax, deadlineMs } = this.opts;
    if (this.closed) return Promise.reject(new SchemaUnavailableError('the schema checker is closed (the process is stopping)'));
    if (signal?.aborted) return Promise.reject(toError(signal.reason));
    if (this.queue.length >= queueMax) {
      return Promise.reject(
        new SchemaUnavailableError(
          `${this.queue.length} requests are waiting for ${what} already; at most ${queueMax} (SWITCHYARD_SCHEMA_QUEUE_MAX); try again shortly`,
        ),
      );
    }
    return new Promise<SchemaReply>((resolve, reject) => {
      const onAbort = () => {
        this.unqueue(pending);
        pending.settle({ error: toError(signal!.reason) });
      };
      const pending: Pending = {
        req,
        queuedAt: Date.now(),
        timer: undefined,
        retried: false,
        settled: false,
        settle: (outcome) => {
          if (pending.settled) return;
          pending.settled = true;
          clearTimeout(pending.timer);
          signal?.removeEventListener('abort', onAbort);
          if ('reply' in outcome) resolve(outcome.reply);
          else reject(outcome.error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.enqueue(pending, deadlineMs);
    });
  }

  /** Fail every request, end the thread. */
  async close(): Promise<void> {
    this.closed = true;
    const error = new SchemaUnavailableError('the schema checker is closed (the process is stopping)');
    for (const p of this.queue.splice(0)) p.settle({ error });
    this.finish()?.settle({ error });
    await this.end();
  }

  /** Queue `pending` (at the front when it goes again), with `waitMs` left until its deadline. */
  private enqueue(pending: Pending, waitMs: number, front = false): void {
    pending.timer = setTimeout(() => {
      this.unqueue(pending);
      pending.settle({ error: this.pastDeadline('waited') });
    }, waitMs).unref();
    if (front) this.queue.unshift(pending);
    else this.queue.push(pending);
    this.pump();
  }

  private unqueue(pending: Pending): void {
    const i = this.queue.indexOf(pending);
    if (i >= 0) this.queue.splice(i, 1);
  }

  private pastDeadline(how: 'waited' | 'ran'): SchemaUnavailableError {
    const { what, deadlineMs } = this.opts;
    return new SchemaUnavailableError(
      `${what} ${how === 'waited' ? 'waited its turn' : 'did not finish'} for longer than ${deadlineMs} ms from when it was asked (SWITCHYARD_SCHEMA_DEADLINE_MS): the schema thread is busy; try again shortly`,
    );
  }

  /** Send the next request once the thread is ready and idle. */
  private pump(): void {
    if (this.closed || this.active || this.queue.length === 0) return;
    const thread = this.thread ?? this.start();
    if (!thread.ready) return;
    const pending = this.queue.shift()!;
    clearTimeout(pending.timer);
    const { timeoutMs, deadlineMs } = this.opts;
    const left = pending.queuedAt + deadlineMs - Date.now();
    const limit = Math.max(1, Math.min(timeoutMs, left));
    const id = this.nextId++;
    this.active = { id, pending, ownLimit: timeoutMs <= left, timer: setTimeout(() => this.cutShort(id), limit).unref() };
    thread.worker.postMessage({ id, ...pending.req } satisfies SchemaRequest);
  }

  private start(): Thread {
    const worker = startThread({ cacheBytes: this.opts.cacheBytes }, this.opts.threadMb);
    alive.add(worker);
    const thread: Thread = { worker, ready: false };
    this.thread = thread;
    worker.unref();
    worker.on('message', (reply: SchemaReply) => {
      if ('ready' in reply) thread.ready = true;
      else if (this.active?.id === reply.id) this.finish()?.settle({ reply });
      this.pump();
    });
    worker.on('error', (err: Error) => this.lost(thread, err));
    worker.on('exit', (code) => {
      alive.delete(worker);
      this.lost(thread, new Error(`the schema thread exited (code ${code})`));
    });
    return thread;
  }

  /** The active request, now no longer active. */
  private finish(): Pending | undefined {
    if (!this.active) return undefined;
    const { pending, timer } = this.active;
    clearTimeout(timer);
    this.active = undefined;
    return pending;
  }

  /** End the thread (it is working on something nobody waits for, or the lane closes). */
  private async end(): Promise<void> {
    const worker = this.thread?.worker;
    this.thread = undefined;
    await worker?.terminate();
  }

  private cutShort(id: number): void {
    if (this.active?.id !== id) return;
    const own = this.active.ownLimit;
    const pending = this.finish()!;
    const { what, timeoutMs } = this.opts;
    pending.settle({
      error: own
        ? new SchemaTimeoutError(`${what} took longer than ${timeoutMs} ms (SWITCHYARD_SCHEMA_TIMEOUT_MS); use a smaller schema`)
        : this.pastDeadline('ran'),
    });
    void this.end();
    this.pump();
  }

  /**
   * The thread died (or could not start). Out of memory: its request was too costly. Otherwise
   * its request is sent once more to a new thread (it may not be the one that killed it), then
   * fails with a 503; a thread that never started fails every request waiting.
   */
  private lost(thread: Thread, err: Error): void {
    if (this.thread !== thread) return;
    this.thread = undefined;
    const pending = this.finish();
    if (pending && (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') {
      pending.settle({
        error: new SchemaMemoryError(
          `${this.opts.what} needed more memory than its thread has (SWITCHYARD_SCHEMA_THREAD_MB: ${this.opts.threadMb}); use a smaller schema`,
        ),
      });
    } else if (pending && !pending.retried && !pending.settled) {
      pending.retried = true;
      this.enqueue(pending, Math.max(1, pending.queuedAt + this.opts.deadlineMs - Date.now()), true);
    } else {
      pending?.settle({ error: new SchemaUnavailableError(`the schema thread stopped while ${this.opts.what} (${err.message}); try again shortly`) });
    }
    if (!thread.ready)
      for (const p of this.queue.splice(0))
        p.settle({ error: new SchemaUnavailableError(`the schema thread could not start (${err.message}); try again shortly`) });
    this.pump();
  }
}
