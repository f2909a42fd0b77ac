/**
 * A run's events as an async iterator over GET /v1/runs/:id/events: it ends after
 * `run.finished` (or at once when nothing follows `after`), and when the connection drops
 * before that it connects again with `Last-Event-ID` set to the last event it yielded, so no
 * logged event is missed or yielded twice (a live-only `step.delta`, id "", is never replayed).
 * It gives up after `maxRetries` connections in a row that brought no event. Leaving the
 * loop (`break`) or aborting `signal` closes the connection.
 */
import type { RunEvent } from '../api/responses.js';
import { SwitchyardError, errorOf } from './error.js';
import { sseFrames } from './sse.js';

export interface EventsOptions {
  /** Start after this event id (default: from the first event). */
  after?: string;
  /** Stops the iteration (it then throws the signal's reason). */
  signal?: AbortSignal;
  /** Connections in a row that may fail or drop before any event, before it throws. Default 5. */
  maxRetries?: number;
  /** The wait before connecting again, ms. Default 500. */
  retryDelayMs?: number;
}

export interface Connection {
  /** The URL of the run's events. */
  url: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason as Error)), { once: true });
  });

/** One connection's events: `finished` once `run.finished` came. */
async function* connect(c: Connection, last: string | undefined, signal: AbortSignal, state: { finished: boolean; ended: boolean }) {
  const res = await c.fetch(c.url, { headers: { ...c.headers, accept: 'text/event-stream', ...(last ? { 'last-event-id': last } : {}) }, signal });
  if (res.status === 204) {
    state.ended = true;
    return;
  }
  // A client error will not change by trying again; a 5xx (Redis away, a restart) may.
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status < 500) state.ended = true;
    throw err;
  }
  for await (const frame of sseFrames(res.body!)) {
    const event = JSON.parse(frame.data) as RunEvent;
    yield event;
    if (event.type === 'run.finished') {
      state.finished = true;
      return;
    }
  }
}

export async function* runEvents(c: Connection, opts: EventsOptions = {}): AsyncGenerator<RunEvent> {
  const { maxRetries = 5, retryDelayMs = 500 } = opts;
  let last = opts.after;
  let failures = 0;
  let lastError: unknown;
  for (;;) {
    opts.signal?.throwIfAborted();
    const stop = new AbortController();
    const onAbort = () => stop.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const state = { finished: false, ended: false };
    try {
      for await (const event of connect(c, last, stop.signal, state)) {
        // A live-only step.delta has no id: reconnecting resumes after the last logged event.
        if (event.id) last = event.id;
        failures = 0;
        yield event;
      }
      if (state.finished || state.ended) return;
      lastError = undefined;
    } catch (err) {
      if (opts.signal?.aborted || state.ended) throw err;
      lastError = err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      stop.abort();
    }
    // Dropped (or refused for now) before run.finished: again from the last event yielded.
    if (++failures > maxRetries) {
      if (lastError instanceof SwitchyardError) throw lastError;
      throw new SwitchyardError(0, 'stream_lost', `the event stream of ${c.url} dropped ${failures} times in a row without an event`);
    }
    await sleep(retryDelayMs, opts.signal);
  }
}
