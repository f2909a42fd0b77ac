/**
 * Submit-and-wait's wait (`?wait=<seconds>`): a run's end, awaited on the process's one event
 * feed (store/event-feed.ts: one subscriber connection for every viewer and waiter of the
 * process), never by polling and never with a connection of its own. The wait ends at
 * `run.finished`, when its time is up, or when `signal` fires (the client went away, the
 * process shuts down); it then leaves the feed, so nothing of it stays behind.
 */
import type { RunStore } from '../store/run-store.js';
import type { Scope } from '../store/scope.js';
import { isTerminalRun } from '../model/run.js';
import type { RunView } from './run-view.js';

export interface RunWaitDeps {
  store: RunStore;
  /** The run as GET /v1/runs/:id shows it. */
  view: (scope: Scope, runId: string) => Promise<RunView>;
}

/**
 * The run once it has finished, or undefined when it has not within `waitMs` or `signal` fired
 * first. A run Redis no longer holds has finished (it left by retention): its view is read
 * from the archive.
 */
export async function awaitRunEnd(deps: RunWaitDeps, scope: Scope, runId: string, waitMs: number, signal: AbortSignal): Promise<RunView | undefined> {
  const status = await deps.store.records.status(scope, runId);
  if (status === null || isTerminalRun(status)) return deps.view(scope, runId);
  if (waitMs <= 0 || signal.aborted) return undefined;
  const stop = new AbortController();
  const end = () => stop.abort();
  const timer = setTimeout(end, waitMs);
  signal.addEventListener('abort', end, { once: true });
  try {
    // The finish script sets the status and appends run.finished at once: reading the log from
    // the start (after joining the run's channel) cannot miss it.
    for await (const event of deps.store.events.follow(scope, runId, undefined, stop.signal)) {
      if (event.type === 'run.finished') return await deps.view(scope, runId);
    }
    return undefined;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', end);
  }
}
