/**
 * Submit and wait (`?wait=<seconds>`), for every route that starts a run (POST /v1/runs,
 * POST /v1/chat/multi, a session's message): the query parameter's schema, at most the
 * configured maximum (SWITCHYARD_MAX_WAIT_SECONDS), and the wait itself, on the process's one
 * event feed (query/run-wait.ts), ended early when the client goes away or the process shuts
 * down. The route answers 200 with what finished, or as it does without `wait` when the run
 * has not ended in time.
 */
import type { Response } from 'express';
import { z } from 'zod';
import type { RunView } from '../query/run-view.js';
import type { Scope } from '../store/scope.js';

/** What a route's description says of `?wait`. */
export const WAIT_DESCRIPTION =
  'With `?wait=<seconds>`: 200 with the run as GET /v1/runs/:id shows it once it has finished, if it does within that time; otherwise the answer it gives without `wait` (202), when the time is up or the client goes away (the run goes on).';

/** The `wait` query parameter: seconds, from 0 to `maxSeconds` (0: do not wait). */
export function waitParam(maxSeconds: number) {
  const range = `a number of seconds from 0 to ${maxSeconds}`;
  return z.coerce
    .number({ error: `must be ${range}` })
    .min(0, `must be ${range}`)
    .max(maxSeconds, `must be at most ${maxSeconds} seconds (SWITCHYARD_MAX_WAIT_SECONDS); to wait longer, follow the run's events (GET /v1/runs/:id/events)`)
    .optional()
    .describe(
      `Wait up to this many seconds (at most ${maxSeconds}, SWITCHYARD_MAX_WAIT_SECONDS) for the run to finish: 200 with the finished run, else the usual answer once the time is up`,
    );
}

/** The query of a route that starts a run and may wait for it. */
export function waitQuery(maxSeconds: number) {
  return z.object({ wait: waitParam(maxSeconds) }).strict();
}

/** What a waiting route needs of the run queries (RunQueries.awaitEnd). */
export interface RunEndWaiter {
  awaitEnd(scope: Scope, runId: string, waitMs: number, signal: AbortSignal): Promise<RunView | undefined>;
}

/**
 * The run once it has finished within `seconds`, else undefined: the time is up, the client
 * went away (its connection closed before an answer) or `shutdownSignal` fired. No wait when
 * `seconds` is undefined or 0.
 */
export function waitForRun(
  waiter: RunEndWaiter,
  res: Response,
  target: { scope: Scope; runId: string; seconds: number | undefined; shutdownSignal?: AbortSignal | undefined },
): Promise<RunView | undefined> {
  return waitWhileConnected(res, target, (waitMs, signal) => waiter.awaitEnd(target.scope, target.runId, waitMs, signal));
}

/**
 * What `wait(waitMs, signal)` gives within `seconds` (a session's turn ended, a run finished),
 * its signal firing when the client goes away or `shutdownSignal` does. Undefined at once
 * when `seconds` is undefined or 0.
 */
export async function waitWhileConnected<T>(
  res: Response,
  target: { seconds: number | undefined; shutdownSignal?: AbortSignal | undefined },
  wait: (waitMs: number, signal: AbortSignal) => Promise<T | undefined>,
): Promise<T | undefined> {
  if (!target.seconds) return undefined;
  const gone = new AbortController();
  const end = () => gone.abort();
  // The response closes before it is written only when the connection went away.
  const closed = () => {
    if (!res.writableEnded) end();
  };
  res.on('close', closed);
  target.shutdownSignal?.addEventListener('abort', end, { once: true });
  try {
    return await wait(Math.round(target.seconds * 1000), gone.signal);
  } finally {
    res.off('close', closed);
    target.shutdownSignal?.removeEventListener('abort', end);
  }
}
