/**
 * The runs service: submit a run (a single-agent task or a workflow), read it (with the
 * definition it executes, on request), list runs, cancel one, follow its events. It writes the
 * run's state, then adds its whole flow to BullMQ in one call.
 */
import { computeStats } from '../query/stats.js';
import { createHash, randomUUID } from 'node:crypto';
import type { FlowJob, FlowProducer, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AgentRegistry } from '../agents/registry.js';
import { DEFAULT_BOUNDS, type Bounds } from '../config/env.js';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import type { CompiledWorkflow } from '../kinds/definition.js';
import { validateRunInput } from '../compile/input.js';
import { assertRunBounds } from '../compile/run-bounds.js';
import type { WorkflowCatalog } from '../compile/catalog.js';
import { buildRunFlow, type StepJobData } from '../flow/flow-builder.js';
import { requirePrices } from './budget-pricing.js';
import { CONTROL_QUEUE, stepJobId } from '../store/keys.js';
import type { GateDecision } from '../store/scripts/index.js';
import { whileReachable } from '../store/reachable.js';
import { explainLost, explainWaiting, queuesToAsk, runningJobs, type WaitingFor } from '../query/waiting.js';
import type { WorkerRegistry } from '../store/heartbeats.js';
import type { RunControl } from '../flow/run-control.js';
import type { RunState, RunStore } from '../store/run-store.js';
import type { StepPolicy } from '../flow/step-policy.js';
import {
  DEFAULT_WORKSPACE,
  awaitsDecision,
  type ContextWriter,
  type StepFeedback,
  isTerminalRun,
  isTerminalStep,
  type Budget,
  type RunEvent,
  type RunListInclude,
  type RunRecord,
  type RunStatus,
  type RunSummary,
  type StepRecord,
} from '../model/run.js';

export interface RunsServiceDeps {
  store: RunStore;
  flowProducer: FlowProducer;
  /** A queue by name, on the same connection as `store` (a single-step run's job is added with its state). */
  queue: (name: string) => Queue | undefined;
  registry: AgentRegistry;
  workflows: WorkflowCatalog;
  control: RunControl;
  policy: StepPolicy;
  logger: Logger;
  /** Safety delay of ref jobs (ms). */
  refSafetyDelayMs: number;
  /** Where finished runs are read from once Redis no longer holds them (MongoDB). */
  archive?: RunArchive;
  /** Most live event streams at once (more answer 503). Default 1000. */
  maxEventStreams?: number;
  /** Most index entries one listing reads before it answers with a cursor. Default 1000. */
  maxListScan?: number;
  /** Which queues live workers serve (to say why a step waits). */
  workers?: WorkerRegistry;
  /** How often the workers' stalled check runs, ms (when a step whose worker is lost goes on). Default 10000. */
  stalledIntervalMs?: number;
  /** What a run may become (rendered inputs, steps), checked at submit where the input tells. Default: the configuration's defaults. */
  bounds?: Bounds;
}

/** Read access to runs that left Redis (retention), e.g. MongoDB. */
export interface RunArchive {
  getRun(id: string, opts?: { definition?: boolean }): Promise<RunView | null>;
  listRuns(filter: ListRunsFilter): Promise<{ runs: RunSummary[]; nextCursor: string | null }>;
  /** The run's event log, oldest first; null when the run is not archived. */
  getEvents(id: string): Promise<RunEvent[] | null>;
}

export interface SubmitOptions {
  idempotencyKey?: string;
  priority?: number;
  scheduleId?: string;
  /** The run this one reruns. */
  rerunOf?: string;
  /** Limits on what the run may spend (over its workflow's `budget`). */
  budget?: Budget;
  /** The run's owner. Default `default`. */
  workspaceId?: string;
}

export interface SubmitResult {
  id: string;
  status: RunRecord['status'];
  /** False when an idempotency key returned an existing run. */
  created: boolean;
}

export interface DagNode {
  id: string;
  kind: StepRecord['kind'];
  agent: string | null;
  parent: string | null;
  status: StepRecord['status'];
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}
/** A dependency edge, or (`kind: 'parent'`) the edge from a step to a step it added. */
export type DagEdge = { from: string; to: string } | { from: string; to: string; kind: 'parent' };
export interface DagView {
  nodes: DagNode[];
  edges: DagEdge[];
}
/** A step as GET /v1/runs/:id shows it: its record and, while it is not running, what it waits for. */
export type StepView = StepRecord & { waitingFor?: WaitingFor };
/** A gate a run waits at: since when, and when it decides by itself (null: never). */
export interface GateWait {
  stepId: string;
  since: string | null;
  deadline: string | null;
}

/**
 * A run as GET /v1/runs/:id shows it. Its status is `waiting` while it runs and an approval
 * gate waits for a decision (`waitingAt` names them).
 */
export type RunView = RunRecord & { waitingAt?: GateWait[]; steps: StepView[]; dag: DagView; definition?: CompiledWorkflow };

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

export const AGENT_WORKFLOW_PREFIX = 'agent/';

export function newRunId(): string {
  // Time-sortable: 9 base36 chars of milliseconds, then 48 random bits (the first 12 hex digits
  // of a v4 UUID are all random; randomUUID draws from a cached pool, randomBytes calls OpenSSL each time).
  const u = randomUUID();
  return `run_${Date.now().toString(36).padStart(9, '0')}${u.slice(0, 8)}${u.slice(9, 13)}`;
}

export class RunsService {
  /** Event streams this service serves now (reserveEventStream). */
  private eventStreams = 0;

  constructor(private readonly deps: RunsServiceDeps) {}

  /**
   * Take one of the event stream slots of this process at once, or throw 503 when all are
   * taken: taken synchronously, before the request awaits anything, so a burst of requests
   * cannot all pass the check first. Call the returned function once the stream has ended.
   */
  reserveEventStream(): () => void {
    const max = this.deps.maxEventStreams ?? DEFAULT_BOUNDS.maxEventStreams;
    if (this.eventStreams >= max)
      throw new UnavailableError(
        `this process already serves ${max} event streams (SWITCHYARD_MAX_EVENT_STREAMS); try again later or another instance`,
        'event_stream_cap',
      );
    this.eventStreams++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.eventStreams--;
    };
  }

  /** A one-step run of `agent` with `input` ({task, context?}). */
  async submitAgentTask(agent: string, input: { task: string; context?: Record<string, unknown> }, opts: SubmitOptions = {}): Promise<SubmitResult> {
    this.deps.registry.require(agent);
    return this.submit(agentTaskWorkflow(agent, input), input, { agent, input }, opts);
  }

  /** A run of a named workflow (from flows/) or an inline definition. */
  async submitWorkflow(ref: string | Record<string, unknown>, input: unknown, opts: SubmitOptions = {}): Promise<SubmitResult> {
    const workflow = await this.deps.workflows.resolve(ref);
    const validInput = validateRunInput(workflow, input ?? {});
    return this.submit(workflow, validInput, { workflow: ref, input: validInput }, opts);
  }

  private submit(workflow: CompiledWorkflow, input: unknown, request: unknown, opts: SubmitOptions): Promise<SubmitResult> {
    // Refused (422) before anything is stored: what this input would render into, and grow to.
    assertRunBounds(workflow, (input ?? {}) as Record<string, unknown>, this.deps.bounds ?? DEFAULT_BOUNDS);
    return whileReachable(this.deps.store.redis, 'the run', () => this.submitNow(workflow, input, request, opts));
  }

  private async submitNow(workflow: CompiledWorkflow, input: unknown, request: unknown, opts: SubmitOptions): Promise<SubmitResult> {
    const { store } = this.deps;
    const workspaceId = opts.workspaceId ?? DEFAULT_WORKSPACE;
    const runId = newRunId();
    // A cost budget holds only over models with a price.
    requirePrices(workflow, opts.budget ?? workflow.budget, this.deps.registry);

    if (opts.idempotencyKey) {
      const requestHash = createHash('sha256')
        .update(JSON.stringify({ request, priority: opts.priority ?? null }))
        .digest('hex');
      const holder = await store.claimIdempotencyKey(workspaceId, opts.idempotencyKey, runId, requestHash);
      if (holder) {
        if (holder.requestHash !== requestHash) {
          throw new ConflictError(`idempotencyKey "${opts.idempotencyKey}" was already used for a different request (run ${holder.runId})`);
        }
        return { id: holder.runId, status: (await store.getRunStatus(holder.runId)) ?? 'queued', created: false };
      }
    }

    const now = new Date().toISOString();
    const run: RunRecord = {
      id: runId,
      workspaceId,
      workflow: workflow.name,
      status: 'queued',
      input,
      output: null,
      error: null,
      agents: [...new Set(workflow.steps.flatMap((s) => (s.agent ? [s.agent] : [])))].sort(),
      failedSteps: [],
      skippedSteps: [],
      usage: { inputTokens: 0, outputTokens: 0 },
      priority: opts.priority ?? null,
      idempotencyKey: opts.idempotencyKey ?? null,
      scheduleId: opts.scheduleId ?? null,
      rerunOf: opts.rerunOf ?? null,
      budget: opts.budget ?? workflow.budget ?? null,
      context: null,
      contextWriters: null,
      createdAt: now,
      startedAt: null,
      finishedAt: null,
    };
    const deadlineMs = run.budget?.deadlineMs;
    const { tree, refIds } = buildRunFlow({
      runId,
      workspaceId,
      ...(deadlineMs ? { deadline: Date.parse(now) + deadlineMs } : {}),
      budgeted: run.budget?.maxTokens !== undefined || run.budget?.maxCostUsd !== undefined,
      steps: workflow.steps,
      jobPolicy: (s) => this.deps.policy.job(s),
      priority: opts.priority,
      retentionSeconds: store.retentionSeconds,
      keepCompletedJobs: store.keepCompletedJobs,
      refSafetyDelayMs: this.deps.refSafetyDelayMs,
    });

    const parts = {
      outputSteps: workflow.output,
      // An agent task's definition follows from its record (see runDefinition): not stored.
      definition: workflow.source === 'agent' ? undefined : workflow,
      steps: workflow.steps.map((s) => ({ stepId: s.id, kind: s.kind, agent: s.agent ?? null, parent: null, dependsOn: s.dependsOn, optional: s.optional })),
      refIds,
    };
    // A single-step run's one job is sent right after its state, in one round trip; a flow
    // (a root over its steps) is added once the state is written.
    const queue = (tree.data as Partial<StepJobData>).standalone ? this.deps.queue(tree.queueName) : undefined;
    let jobError: Error | undefined;
    try {
      if (queue) jobError = (await store.createRunWithJob(run, parts, jobWriter(queue, tree))).jobError;
      else await store.createRun(run, parts);
    } catch (err) {
      if (opts.idempotencyKey) await store.releaseIdempotencyKey(workspaceId, opts.idempotencyKey);
      // Its job may be there, without a run: it would end at once, but it goes now.
      if (queue) await queue.remove(tree.opts!.jobId!).catch(() => undefined);
      throw err;
    }
    try {
      if (jobError) throw jobError;
      if (!queue) await this.deps.flowProducer.add(tree);
    } catch (err) {
      // A run without its flow would never execute: end it now rather than leave it queued.
      // If Redis is unreachable this fails too; the sweeper ends it later (it is still in the
      // set of queued runs), and the original error is what the caller gets.
      try {
        await store.finishRun(runId, 'failed', { error: `could not enqueue the run: ${(err as Error).message}`, reason: 'enqueue failed' });
        if (opts.idempotencyKey) await store.releaseIdempotencyKey(workspaceId, opts.idempotencyKey);
      } catch (cleanup) {
        this.deps.logger.warn({ runId, err: (cleanup as Error).message }, 'could not end a run whose flow was not added; the sweeper will');
      }
      throw err;
    }
    this.deps.logger.info({ runId, workflow: workflow.name, steps: workflow.steps.length }, 'run queued');
    return { id: runId, status: 'queued', created: true };
  }

  /** A run with its steps and DAG; with `definition`, the compiled workflow it executes. */
  async get(runId: string, opts: { definition?: boolean } = {}): Promise<RunView> {
    const state = await whileReachable(this.deps.store.redis, 'reading the run', () => this.deps.store.getRun(runId));
    if (state) {
      const view = toRunView(state.run, state.steps);
      await this.explain(view);
      if (opts.definition)
        view.definition = runDefinition(state.run, await whileReachable(this.deps.store.redis, 'reading the run', () => this.deps.store.getDefinition(runId)));
      return view;
    }
    return this.fromArchive(runId, (a) => a.getRun(runId, opts));
  }

  /** A run's shared context: what its steps published, by name, and which step wrote each name. */
  async context(runId: string): Promise<{ runId: string; context: Record<string, unknown>; writers: Record<string, ContextWriter> }> {
    const run =
      (await whileReachable(this.deps.store.redis, 'reading the run', () => this.deps.store.getRunContext(runId))) ??
      (await this.fromArchive(runId, (a) => a.getRun(runId, {})));
    return { runId, context: run.context ?? {}, writers: run.contextWriters ?? {} };
  }

  /** Tell, for each step that is not running (or whose worker is lost), what it waits for (no-op without a worker registry). */
  private async explain(view: RunView): Promise<void> {
    const { workers } = this.deps;
    if (!workers || isTerminalRun(view.status) || view.steps.every((s) => isTerminalStep(s.status))) return;
    const queues = queuesToAsk(view.steps);
    const running = runningJobs(view.steps);
    const [served, locks, ...limits] = await whileReachable(this.deps.store.redis, 'reading the run', () =>
      Promise.all([workers.liveQueues(), workers.jobLocks(running), ...queues.map((q) => workers.rateLimitMs(q))]),
    );
    const now = Date.now();
    const why = explainWaiting(view.steps, { served: served, rateLimitMs: new Map(queues.map((q, i) => [q, limits[i] as number])), now });
    const read = locks;
    const lockOf = new Map(running.flatMap((r, i) => (read[i] ? [[r.stepId, read[i]] as const] : [])));
    const lost = explainLost(view.steps, { locks: lockOf, served: served, stalledIntervalMs: this.deps.stalledIntervalMs ?? 10_000, now });
    for (const s of view.steps) {
      const w = why.get(s.stepId) ?? lost.get(s.stepId);
      if (w) s.waitingFor = w;
    }
  }

  /**
   * A run's events after `after` (exclusive; from the start when omitted): live from Redis
   * (replayed, then followed until `run.finished` or `signal`), or the archived log once Redis
   * no longer holds the run. NotFoundError when neither has it. The caller holds a slot of
   * reserveEventStream while it serves the stream.
   */
  async events(runId: string, after: number | undefined, signal: AbortSignal): Promise<RunEventStream> {
    const { store } = this.deps;
    const status = await whileReachable(store.redis, 'reading the run', () => store.getRunStatus(runId));
    if (status === null) {
      const events = (await this.fromArchive(runId, (a) => a.getEvents(runId))).filter((e) => after === undefined || Number(e.id) > after);
      return after !== undefined && events.length === 0 ? { kind: 'none' } : { kind: 'archived', events };
    }
    // A client reconnecting after run.finished: nothing will ever follow.
    if (isTerminalRun(status) && after !== undefined && (await store.readEvents(runId, after, 1)).length === 0) return { kind: 'none' };
    return { kind: 'live', events: untilFinished(store.followEvents(runId, after, signal)) };
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
   * A page of runs, newest first (RunStore.listRuns): one listing reads a bounded part of the
   * index (SWITCHYARD_MAX_LIST_SCAN), so a filtered page may hold fewer than `limit` runs, even
   * none, with a `nextCursor` to go on; the listing has ended when it is null.
   */
  async list(filter: ListRunsFilter): Promise<{ runs: RunSummary[]; nextCursor: string | null }> {
    if (this.deps.archive) {
      try {
        return await this.deps.archive.listRuns(filter);
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
    const { runs, next } = await whileReachable(this.deps.store.redis, 'the listing', () =>
      this.deps.store.listRuns({ ...rest, maxScan, ...(cursor ? { cursor } : {}) }),
    );
    return { runs, nextCursor: next ? Buffer.from(`${next.score}:${next.id}`).toString('base64url') : null };
  }

  /**
   * Statistics over the runs created in [since, until] (default: the last 24 hours), filtered by
   * agent (runs that used it, and its steps only) and workflow: see stats.ts. Read from Redis,
   * so over the runs it still keeps (SWITCHYARD_RETENTION_SECONDS); at most `maxRuns`, the
   * newest first (`truncated` says when there were more).
   */
  async stats(q: {
    workspaceId: string;
    since?: string | undefined;
    until?: string | undefined;
    agent?: string | undefined;
    workflow?: string | undefined;
    bucket?: 'hour' | 'day' | undefined;
    maxRuns?: number;
  }) {
    const { store } = this.deps;
    const until = q.until ? Date.parse(q.until) : Date.now();
    const since = q.since ? Date.parse(q.since) : until - 24 * 3600_000;
    if (since > until) throw new ValidationError('since must not be after until', [{ path: 'since', message: 'must not be after until' }]);
    const bucketMs = (q.bucket ?? (until - since <= 48 * 3600_000 ? 'hour' : 'day')) === 'hour' ? 3600_000 : 24 * 3600_000;
    const maxRuns = q.maxRuns ?? 2000;
    const ids = await whileReachable(store.redis, 'reading runs', () => store.runsCreatedBetween(q.workspaceId, since, until, maxRuns + 1));
    const truncated = ids.length > maxRuns;
    const states: RunState[] = [];
    for (let i = 0; i < Math.min(ids.length, maxRuns); i += 50) {
      const batch = await whileReachable(store.redis, 'reading runs', () => Promise.all(ids.slice(i, Math.min(i + 50, maxRuns)).map((id) => store.getRun(id))));
      for (const s of batch) if (s && (!q.workflow || s.run.workflow === q.workflow) && (!q.agent || s.run.agents.includes(q.agent))) states.push(s);
    }
    return {
      ...computeStats(states, { since, until, bucketMs }, { agents: this.deps.registry.names(), agent: q.agent }),
      scanned: Math.min(ids.length, maxRuns),
      truncated,
    };
  }

  /** Feedback on a finished step's result (seed 002's TaskFeedback); the last one given stands. */
  async feedback(
    runId: string,
    stepId: string,
    f: { rating: number; useful?: boolean | undefined; comment?: string | undefined },
  ): Promise<{ runId: string; stepId: string; feedback: StepFeedback }> {
    const { store } = this.deps;
    const feedback: StepFeedback = {
      rating: f.rating,
      ...(f.useful !== undefined ? { useful: f.useful } : {}),
      ...(f.comment !== undefined ? { comment: f.comment } : {}),
      at: new Date().toISOString(),
    };
    const res = await whileReachable(store.redis, 'the feedback', () => store.addFeedback(runId, stepId, feedback));
    if (res.result === 'missing')
      throw new NotFoundError(`run "${runId}" not found (feedback is taken while a run is kept in Redis: SWITCHYARD_RETENTION_SECONDS)`);
    if (res.result === 'no_step') throw new NotFoundError(`run "${runId}" has no step "${stepId}"`);
    if (res.result === 'not_finished')
      throw new ConflictError(`step "${stepId}" has not finished (it is ${res.status}); give feedback on its result once it has one`);
    return { runId, stepId, feedback };
  }

  /**
   * Approve or reject the approval gate `stepId` of `runId`, which must be waiting for a
   * decision: the decision is recorded (with who and why), and the gate's job woken.
   */
  async decide(
    runId: string,
    stepId: string,
    d: { approved: boolean; by?: string | undefined; comment?: string | undefined },
  ): Promise<{ runId: string; stepId: string; decision: GateDecision }> {
    const { store } = this.deps;
    const decision: GateDecision = { approved: d.approved, by: d.by ?? 'api', comment: d.comment ?? null, at: new Date().toISOString() };
    const res = await whileReachable(store.redis, 'the decision', () => store.decideGate(runId, stepId, decision));
    if (!res.applied) {
      if (res.why === 'missing') {
        const status = await whileReachable(store.redis, 'reading the run', () => store.getRunStatus(runId));
        if (status === null) throw new NotFoundError(`run "${runId}" not found`);
        // A finished run keeps its steps in one record (compacted): none waits any more.
        if (isTerminalRun(status)) throw new ConflictError(`run "${runId}" already finished with status ${status}`);
        throw new NotFoundError(`run "${runId}" has no step "${stepId}"`);
      }
      if (res.why === 'not_a_gate') throw new ConflictError(`step "${stepId}" is not an approval gate`);
      if (res.why === 'decided') {
        // Nudge it anyway: an earlier wake may have come while the gate was still parking.
        await this.wakeGate(runId, stepId);
        throw new ConflictError(`step "${stepId}" is already decided; it goes on with that decision`);
      }
      if (res.why === 'revising') throw new ConflictError(`step "${stepId}" waits for the revision it asked for; decide once it is done`);
      throw new ConflictError(`step "${stepId}" is not waiting for approval (it is ${res.why})`);
    }
    await this.wakeGate(runId, stepId);
    return { runId, stepId, decision };
  }

  /** Wake a gate's job now (it sleeps in the delayed set). Should this fail, a repeated decision wakes it, or its deadline does. */
  private async wakeGate(runId: string, stepId: string): Promise<void> {
    try {
      await this.deps.control.wake(CONTROL_QUEUE, stepJobId(runId, stepId));
    } catch (err) {
      this.deps.logger.warn({ runId, stepId, err: (err as Error).message }, 'decision recorded, but the gate could not be woken at once');
    }
  }

  /**
   * Rerun a finished run from `fromStep`: a new run of the definition it executed, in which
   * every step not downstream of `fromStep` (and that succeeded) reuses its recorded output
   * (no work done, `reusedFrom` set), `fromStep` gets `feedback` (with its previous answer) in
   * its context, and the new run's `rerunOf` names this one.
   */
  async rerun(
    runId: string,
    req: { fromStep: string; input?: Record<string, unknown> | undefined; feedback?: string | undefined },
    opts: SubmitOptions = {},
  ): Promise<SubmitResult & { rerunOf: string }> {
    const old = await this.get(runId, { definition: true });
    if (!isTerminalRun(old.status)) throw new ConflictError(`run "${runId}" is ${old.status}: a run is rerun once it has finished (cancel it first)`);
    const def = old.definition;
    if (!def) throw new ConflictError(`run "${runId}" has no stored definition to rerun`);
    const ids = def.steps.map((s) => s.id);
    if (!ids.includes(req.fromStep)) {
      const message = `"${req.fromStep}" is not a step of the run's workflow; its steps: ${ids.join(', ')}`;
      throw new ValidationError(message, [{ path: 'fromStep', message }]);
    }
    const dependents = new Map<string, string[]>(ids.map((id) => [id, []]));
    for (const s of def.steps) for (const d of s.dependsOn) dependents.get(d)?.push(s.id);
    const again = new Set<string>();
    const downstream = (id: string): void => {
      if (again.has(id)) return;
      again.add(id);
      for (const d of dependents.get(id) ?? []) downstream(d);
    };
    downstream(req.fromStep);
    // A step upstream that did not succeed has nothing to reuse: it runs again, with what needs it.
    const records = new Map(old.steps.map((s) => [s.stepId, s]));
    for (const s of def.steps) if (records.get(s.id)?.status !== 'succeeded') downstream(s.id);
    const from = def.steps.find((s) => s.id === req.fromStep)!;
    if (req.feedback !== undefined && from.kind !== 'agent') {
      const message = `feedback goes to an agent step; "${from.id}" is a ${from.kind} step`;
      throw new ValidationError(message, [{ path: 'feedback', message }]);
    }
    const steps = def.steps.map((s) => {
      if (!again.has(s.id)) {
        const r = records.get(s.id)!;
        return { ...s, reuse: { runId, output: r.output, ...(r.input !== null ? { input: r.input } : {}) } };
      }
      if (s.id === req.fromStep && s.kind === 'agent' && req.feedback !== undefined)
        return { ...s, feedback: { text: req.feedback, previousOutput: records.get(s.id)?.output ?? null } };
      return s;
    });
    // Its definition differs from the one it reruns (reused outputs, feedback): stored as its own.
    const workflow: CompiledWorkflow = { ...def, steps, source: def.source === 'agent' ? 'rerun' : def.source };
    const input = req.input === undefined ? old.input : validateRunInput(workflow, req.input);
    const res = await this.submit(workflow, input, { rerun: runId, ...req }, { ...opts, rerunOf: runId });
    return { ...res, rerunOf: runId };
  }

  async cancel(runId: string): Promise<{ id: string; status: string }> {
    const res = await whileReachable(this.deps.store.redis, 'the cancel', () => this.deps.control.halt(runId, 'cancelled', { reason: 'run cancelled' }));
    if (res.status === 'missing') throw new NotFoundError(`run "${runId}" not found`);
    if (!res.applied) throw new ConflictError(`run "${runId}" already finished with status ${res.status}`);
    return { id: runId, status: 'cancelled' };
  }
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

export function toRunView(run: RunRecord, steps: StepRecord[]): RunView {
  // Not a gate waiting for a revision it asked for, or on its way from one: it waits for a person.
  const gates = run.status === 'waiting' ? steps.filter(awaitsDecision) : [];
  return {
    ...run,
    ...(gates.length ? { waitingAt: gates.map((g) => ({ stepId: g.stepId, since: g.startedAt, deadline: g.retryAt })) } : {}),
    steps,
    dag: {
      nodes: steps.map((s) => ({
        id: s.stepId,
        kind: s.kind,
        agent: s.agent,
        parent: s.parent,
        status: s.status,
        startedAt: s.startedAt,
        finishedAt: s.finishedAt,
        durationMs: s.startedAt && s.finishedAt ? Date.parse(s.finishedAt) - Date.parse(s.startedAt) : null,
      })),
      edges: steps.flatMap((s): DagEdge[] => [
        ...s.dependsOn.map((d) => ({ from: d, to: s.stepId })),
        ...(s.parent ? [{ from: s.parent, to: s.stepId, kind: 'parent' as const }] : []),
      ]),
    },
  };
}

/** The workflow of a single-agent task: one step running `agent` on `input`. */
export function agentTaskWorkflow(agent: string, input: { task: string; context?: Record<string, unknown> }): CompiledWorkflow {
  return {
    name: `${AGENT_WORKFLOW_PREFIX}${agent}`,
    description: `single ${agent} task`,
    input: {},
    steps: [{ id: agent, kind: 'agent', agent, input, dependsOn: [], optional: false, allowSkippedDeps: false, literal: true, reads: [] }],
    output: [agent],
    source: 'agent',
  };
}

/** The definition a run executes: the one stored, or an agent task's, which its record gives. */
export function runDefinition(run: Pick<RunRecord, 'workflow' | 'input'>, stored: unknown): CompiledWorkflow | undefined {
  if (stored) return stored as CompiledWorkflow;
  if (run.workflow.startsWith(AGENT_WORKFLOW_PREFIX)) return agentTaskWorkflow(run.workflow.slice(AGENT_WORKFLOW_PREFIX.length), run.input as { task: string });
  return undefined;
}

/** How to add `node`'s job (a job without children): `queue.add`, on the queue's own connection. */
function jobWriter(queue: Queue, node: FlowJob): { redis: Redis; add: () => Promise<unknown> } {
  return { redis: queue.opts.connection as Redis, add: () => queue.add(node.name, node.data, node.opts) };
}
