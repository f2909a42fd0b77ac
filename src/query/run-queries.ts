/**
 * Reading runs: one run as the API shows it (with what each waiting step waits for, and on
 * request the definition it executes), its shared context, its work outputs, its events (replayed, then live),
 * a workspace's runs page by page, and statistics over them. Redis first; a run that left it
 * (retention) is read from the archive (MongoDB) when there is one.
 */
import type { AgentRegistry } from '../agents/registry.js';
import { DEFAULT_BOUNDS } from '../config/env.js';
import { NotFoundError, UnavailableError, ValidationError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import type { Heartbeats } from '../store/heartbeats.js';
import { whileReachable } from '../store/reachable.js';
import type { RunState, RunStore } from '../store/run-store.js';
import type { Scope } from '../store/scope.js';
import type { WorkOutput } from '../model/work-output.js';
import { runDefinition } from '../submit/agent-task.js';
import { computeStats } from './stats.js';
import { computeInsights } from './insights.js';
import { agentMessages } from './agent-messages.js';
import type { AgentMessage } from '../model/agent-message.js';
import { awaitRunEnd } from './run-wait.js';
import { toRunView, type RunView } from './run-view.js';
import { explainLost, explainWaiting, queuesToAsk, runningJobs } from './waiting.js';
import { isTerminalRun, isTerminalStep, type ContextWriter, type RunEvent, type RunListInclude, type RunStatus, type RunSummary } from '../model/run.js';

/** Read access to runs that left Redis (retention), e.g. MongoDB; each read is of one workspace's runs. */
export interface RunArchive {
  getRun(workspaceId: string, id: string, opts?: { definition?: boolean }): Promise<RunView | null>;
  listRuns(filter: ListRunsFilter): Promise<{ runs: RunSummary[]; nextCursor: string | null }>;
  /** The run's event log, oldest first; null when the run is not archived. */
  getEvents(workspaceId: string, id: string): Promise<RunEvent[] | null>;
}

export interface RunQueriesDeps {
  store: RunStore;
  registry: AgentRegistry;
  logger: Logger;
  /** Where finished runs are read from once Redis no longer holds them (MongoDB). */
  archive?: RunArchive | undefined;
  /** Most live event streams at once (more answer 503). Default 1000. */
  maxEventStreams?: number;
  /** Most index entries one listing reads before it answers with a cursor. Default 1000. */
  maxListScan?: number;
  /** Which queues live worker processes serve (to say why a step waits). */
  heartbeats?: Heartbeats;
  /** How often the workers' stalled check runs, ms (when a step whose worker is lost goes on). Default 10000. */
  stalledIntervalMs?: number;
}

export interface ListRunsFilter {
  workspaceId: string;
  /** What each listed run carries beyond its summary. Default none. */
  include?: readonly RunListInclude[];
  status?: RunStatus;
  workflow?: string;
  agent?: string;
  limit: number;
  cursor?: string;
}

/** What GET /v1/runs/:id/events streams. */
export type RunEventStream =
  /** Nothing follows `after`: the run finished (Redis or archive). */
  | { kind: 'none' }
  /** The whole log after `after`, from the archive (the run is no longer in Redis). */
  | { kind: 'archived'; events: RunEvent[] }
  /** Events after `after`, then live ones until `run.finished` or `signal`. */
  | { kind: 'live'; events: AsyncIterable<RunEvent> };

export class RunQueries {
  /** Event streams this process serves now (reserveEventStream). */
  private eventStreams = 0;

  constructor(private readonly deps: RunQueriesDeps) {}

  /** While Redis is reachable (else 503 at once), `read`. */
  private read<T>(what: string, read: () => Promise<T>): Promise<T> {
    return whileReachable(this.deps.store.redis, what, read);
  }

  /** A run with its steps and DAG; with `definition`, the compiled workflow it executes. */
  async get(scope: Scope, runId: string, opts: { definition?: boolean } = {}): Promise<RunView> {
    const { records } = this.deps.store;
    const state = await this.read('reading the run', () => records.get(scope, runId));
    if (state) {
      const view = toRunView(state.run, state.steps, state.reserved);
      await this.explain(scope, view);
      if (opts.definition) view.definition = runDefinition(state.run, await this.read('reading the run', () => records.definition(scope, runId)));
      return view;
    }
    return this.fromArchive(runId, (a) => a.getRun(scope.workspace, runId, opts));
  }

  /** A run's shared context: what its steps published, by name, and which step wrote each name. */
  async context(scope: Scope, runId: string): Promise<{ runId: string; context: Record<string, unknown>; writers: Record<string, ContextWriter> }> {
    const run =
      (await this.read('reading the run', () => this.deps.store.records.fields(scope, runId, ['context', 'contextWriters']))) ??
      (await this.fromArchive(runId, (a) => a.getRun(scope.workspace, runId, {})));
    return { runId, context: run.context ?? {}, writers: run.contextWriters ?? {} };
  }

  /** A run's work outputs (emit_output), in the order emitted. */
  async outputs(scope: Scope, runId: string): Promise<{ runId: string; outputs: WorkOutput[] }> {
    const { outputs } =
      (await this.read('reading the run', () => this.deps.store.records.fields(scope, runId, ['outputs']))) ??
      (await this.fromArchive(runId, (a) => a.getRun(scope.workspace, runId, {})));
    return { runId, outputs: outputs ?? [] };
  }

  /** The traffic between the parties of a run, in order (seed 002's AgentMessage: see agent-messages.ts). */
  async messages(scope: Scope, runId: string): Promise<{ runId: string; messages: AgentMessage[] }> {
    const { records, events } = this.deps.store;
    const state = await this.read('reading the run', () => records.get(scope, runId));
    if (state) {
      const log: RunEvent[] = [];
      // The log in pages, up to a bound a run's log never reaches in practice.
      for (let page = await this.read('reading the run', () => events.read(scope, runId, 0, 1000)); page.length > 0 && log.length < 100_000;) {
        log.push(...page);
        const after = Number(page.at(-1)!.id);
        page = page.length < 1000 ? [] : await this.read('reading the run', () => events.read(scope, runId, after, 1000));
      }
      return { runId, messages: agentMessages(state.run, state.steps, log) };
    }
    const view = await this.fromArchive(runId, (a) => a.getRun(scope.workspace, runId, {}));
    const log = (await this.fromArchive(runId, (a) => a.getEvents(scope.workspace, runId))) ?? [];
    return { runId, messages: agentMessages(view, view.steps, log) };
  }

  /** Tell, for each step that is not running (or whose worker is lost), what it waits for (no-op without a worker registry). */
  private async explain(scope: Scope, view: RunView): Promise<void> {
    const { heartbeats } = this.deps;
    if (!heartbeats || isTerminalRun(view.status) || view.steps.every((s) => isTerminalStep(s.status))) return;
    const queues = queuesToAsk(view.steps);
    const running = runningJobs(view.steps);
    const [served, locks, ...limits] = await this.read('reading the run', () =>
      Promise.all([heartbeats.liveQueues(), heartbeats.jobLocks(scope, running), ...queues.map((q) => heartbeats.rateLimitMs(q))]),
    );
    const now = Date.now();
    const why = explainWaiting(view.steps, { served, rateLimitMs: new Map(queues.map((q, i) => [q, limits[i] as number])), now });
    const lockOf = new Map(running.flatMap((r, i) => (locks[i] ? [[r.stepId, locks[i]] as const] : [])));
    const lost = explainLost(view.steps, { locks: lockOf, served, stalledIntervalMs: this.deps.stalledIntervalMs ?? 10_000, now });
    for (const s of view.steps) {
      const w = why.get(s.stepId) ?? lost.get(s.stepId);
      if (w) s.waitingFor = w;
    }
  }

  /**
   * Take one of the event stream slots of this process at once, or throw 503 when all are
   * taken: taken synchronously, before the request awaits anything, so a burst of requests
   * cannot all pass the check first. Call the returned function once the stream has ended.
   */
  reserveEventStream(): () => void {
    const release = this.tryReserveEventStream();
    if (release) return release;
    const max = this.deps.maxEventStreams ?? DEFAULT_BOUNDS.maxEventStreams;
    throw new UnavailableError(
      `this process already serves ${max} event streams (SWITCHYARD_MAX_EVENT_STREAMS); try again later or another instance`,
      'event_stream_cap',
    );
  }

  /** One of the event stream slots, or undefined when all are taken (reserveEventStream). */
  private tryReserveEventStream(): (() => void) | undefined {
    if (this.eventStreams >= (this.deps.maxEventStreams ?? DEFAULT_BOUNDS.maxEventStreams)) return undefined;
    this.eventStreams++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.eventStreams--;
    };
  }

  /**
   * A run's events after `after` (exclusive; from the start when omitted): live from Redis
   * (replayed, then followed until `run.finished` or `signal`), or the archived log once Redis
   * no longer holds the run. NotFoundError when neither has it. The caller holds a slot of
   * reserveEventStream while it serves the stream.
   */
  async events(scope: Scope, runId: string, after: number | undefined, signal: AbortSignal): Promise<RunEventStream> {
    const { records, events } = this.deps.store;
    const status = await this.read('reading the run', () => records.status(scope, runId));
    if (status === null) {
      const archived = (await this.fromArchive(runId, (a) => a.getEvents(scope.workspace, runId))).filter((e) => after === undefined || Number(e.id) > after);
      return after !== undefined && archived.length === 0 ? { kind: 'none' } : { kind: 'archived', events: archived };
    }
    // A client reconnecting after run.finished: nothing will ever follow.
    if (isTerminalRun(status) && after !== undefined && (await events.read(scope, runId, after, 1)).length === 0) return { kind: 'none' };
    return { kind: 'live', events: untilFinished(events.follow(scope, runId, after, signal)) };
  }

  /**
   * Submit-and-wait: the run once it has finished, or undefined when it has not within `waitMs`
   * (or `signal` fired first: the client went away). A waiter is a viewer of the process's
   * event feed and takes one of its event stream slots while it waits; with none free it does
   * not wait (undefined at once), since the run it waits for is already made; nor does a
   * wait that fails (Redis lost meanwhile): the caller answers as if the time were up, never
   * with an error that would have a client submit the run again.
   */
  async awaitEnd(scope: Scope, runId: string, waitMs: number, signal: AbortSignal): Promise<RunView | undefined> {
    const release = this.tryReserveEventStream();
    if (!release) return undefined;
    try {
      return await awaitRunEnd({ store: this.deps.store, view: (s, id) => this.get(s, id) }, scope, runId, waitMs, signal);
    } catch (err) {
      this.deps.logger.warn({ runId, err: (err as Error).message }, 'could not wait for a run to finish; answering that it has not');
      return undefined;
    } finally {
      release();
    }
  }

  private async fromArchive<T>(runId: string, read: (archive: RunArchive) => Promise<T | null>): Promise<T> {
    const { archive } = this.deps;
    if (archive) {
      const found = await read(archive).catch((err: unknown) => {
        this.deps.logger.warn({ runId, err: (err as Error).message }, 'run archive unreachable');
        throw new UnavailableError(`run "${runId}" is not in Redis and the archive (MongoDB) cannot be reached; try again later`, 'archive_unreachable');
      });
      if (found) return found;
    }
    throw new NotFoundError(`run "${runId}" not found`);
  }

  /**
   * A page of the workspace's runs, newest first (RunRecords.list): one listing reads a bounded
   * part of the index (SWITCHYARD_MAX_LIST_SCAN), so a filtered page may hold fewer than `limit`
   * runs, even none, with a `nextCursor` to go on; the listing has ended when it is null.
   */
  async list(scope: Scope, filter: Omit<ListRunsFilter, 'workspaceId'>): Promise<{ runs: RunSummary[]; nextCursor: string | null }> {
    if (this.deps.archive) {
      try {
        return await this.deps.archive.listRuns({ ...filter, workspaceId: scope.workspace });
      } catch (err) {
        if (err instanceof ValidationError) throw err;
        // MongoDB down: answer from Redis (runs within retention) rather than fail.
        this.deps.logger.warn({ err: (err as Error).message }, 'run archive unreachable; listing from Redis');
        if (filter.cursor)
          throw new UnavailableError('the run archive (MongoDB) cannot be reached to continue this listing; try again later', 'archive_unreachable');
      }
    }
    const { cursor: raw, ...rest } = filter;
    const cursor = raw ? decodeCursor(raw) : undefined;
    const maxScan = this.deps.maxListScan ?? DEFAULT_BOUNDS.maxListScan;
    const { runs, next } = await this.read('the listing', () => this.deps.store.records.list(scope, { ...rest, maxScan, ...(cursor ? { cursor } : {}) }));
    return { runs, nextCursor: next ? Buffer.from(`${next.score}:${next.id}`).toString('base64url') : null };
  }

  /**
   * Statistics over the workspace's runs created in [since, until] (default: the last 24 hours),
   * filtered by agent (runs that used it, and its steps only) and workflow: see stats.ts. Read
   * from Redis, so over the runs it still keeps (SWITCHYARD_RETENTION_SECONDS); at most
   * `maxRuns`, the newest first (`truncated` says when there were more).
   */
  async stats(scope: Scope, q: WindowQuery) {
    const { states, window, scanned, truncated } = await this.runsIn(scope, q);
    return { ...computeStats(states, window, { agents: this.deps.registry.names(), agent: q.agent }), scanned, truncated };
  }

  /** What the same runs as stats' teach (insights.ts): per agent and workflow, trends, failure reasons, suggestions. */
  async insights(scope: Scope, q: WindowQuery) {
    const { states, window, scanned, truncated } = await this.runsIn(scope, q);
    return { ...computeInsights(states, window, { agent: q.agent }), scanned, truncated };
  }

  /** The runs of a window (stats, insights), and the window with its bucket size. */
  private async runsIn(scope: Scope, q: WindowQuery) {
    const { records } = this.deps.store;
    const until = q.until ? Date.parse(q.until) : Date.now();
    const since = q.since ? Date.parse(q.since) : until - 24 * 3600_000;
    if (since > until) throw new ValidationError('since must not be after until', [{ path: 'since', message: 'must not be after until' }]);
    const bucketMs = (q.bucket ?? (until - since <= 48 * 3600_000 ? 'hour' : 'day')) === 'hour' ? 3600_000 : 24 * 3600_000;
    const maxRuns = q.maxRuns ?? 2000;
    const ids = await this.read('reading runs', () => records.createdBetween(scope, since, until, maxRuns + 1));
    const states: RunState[] = [];
    for (let i = 0; i < Math.min(ids.length, maxRuns); i += 50) {
      const batch = await this.read('reading runs', () => Promise.all(ids.slice(i, Math.min(i + 50, maxRuns)).map((id) => records.get(scope, id))));
      for (const s of batch) if (s && (!q.workflow || s.run.workflow === q.workflow) && (!q.agent || s.run.agents.includes(q.agent))) states.push(s);
    }
    return { states, window: { since, until, bucketMs }, scanned: Math.min(ids.length, maxRuns), truncated: ids.length > maxRuns };
  }
}

/** The window of stats and insights: ISO times, filters, the bucket size, and at most how many runs are read. */
export interface WindowQuery {
  since?: string | undefined;
  until?: string | undefined;
  agent?: string | undefined;
  workflow?: string | undefined;
  bucket?: 'hour' | 'day' | undefined;
  maxRuns?: number;
}

/** The events up to and including `run.finished`. */
async function* untilFinished(events: AsyncGenerator<RunEvent>): AsyncGenerator<RunEvent> {
  try {
    for await (const e of events) {
      yield e;
      if (e.type === 'run.finished') return;
    }
  } finally {
    await events.return(undefined);
  }
}

function decodeCursor(cursor: string): { score: number; id: string } {
  const [score, id] = Buffer.from(cursor, 'base64url').toString().split(':');
  // An empty id is before every id of its score (see run-listing.ts).
  if (!score || id === undefined || !Number.isFinite(Number(score)))
    throw new ValidationError('invalid cursor', [{ path: 'cursor', message: 'not a cursor returned by this API' }]);
  return { score: Number(score), id };
}
