/**
 * The runs service: submit a run (a single-agent task or a workflow), read it, list runs,
 * cancel one. It writes the run's state, then adds its whole flow to BullMQ in one call.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FlowProducer } from 'bullmq';
import type { AgentRegistry } from '../agents/registry.js';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import type { CompiledWorkflow } from '../workflows/definition.js';
import { validateRunInput } from '../workflows/input.js';
import type { WorkflowCatalog } from '../workflows/catalog.js';
import { buildFlow } from './flow-builder.js';
import type { RunControl } from './run-control.js';
import type { NewStep, RunStore } from './run-store.js';
import type { RunEvent, RunRecord, RunStatus, StepRecord } from './types.js';

export interface RunsServiceDeps {
  store: RunStore;
  flowProducer: FlowProducer;
  registry: AgentRegistry;
  workflows: WorkflowCatalog;
  control: RunControl;
  logger: Logger;
  /** Safety delay of ref jobs (ms). */
  refSafetyDelayMs: number;
  /** Where finished runs are read from once Redis no longer holds them (MongoDB). */
  archive?: RunArchive;
}

/** Read access to runs that left Redis (retention), e.g. MongoDB. */
export interface RunArchive {
  getRun(id: string): Promise<RunView | null>;
  listRuns(filter: ListRunsFilter): Promise<{ runs: RunRecord[]; nextCursor: string | null }>;
  /** The run's event log, oldest first; null when the run is not archived. */
  getEvents(id: string): Promise<RunEvent[] | null>;
}

export interface SubmitOptions {
  idempotencyKey?: string;
  priority?: number;
  scheduleId?: string;
}

export interface SubmitResult {
  id: string;
  status: RunRecord['status'];
  /** False when an idempotency key returned an existing run. */
  created: boolean;
}

export interface DagView {
  nodes: { id: string; agent: string; status: StepRecord['status']; startedAt: string | null; finishedAt: string | null; durationMs: number | null }[];
  edges: { from: string; to: string }[];
}
export type RunView = RunRecord & { steps: StepRecord[]; dag: DagView };

export interface ListRunsFilter {
  status?: RunStatus;
  workflow?: string;
  agent?: string;
  limit: number;
  cursor?: string;
}

export const AGENT_WORKFLOW_PREFIX = 'agent/';

export function newRunId(): string {
  // Time-sortable: 9 base36 chars of milliseconds, then randomness.
  return `run_${Date.now().toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`;
}

export class RunsService {
  constructor(private readonly deps: RunsServiceDeps) {}

  /** A one-step run of `agent` with `input` ({task, context?}). */
  async submitAgentTask(agent: string, input: { task: string; context?: Record<string, unknown> }, opts: SubmitOptions = {}): Promise<SubmitResult> {
    this.deps.registry.require(agent);
    const workflow: CompiledWorkflow = {
      name: `${AGENT_WORKFLOW_PREFIX}${agent}`,
      description: `single ${agent} task`,
      input: {},
      steps: [{ id: agent, agent, input, dependsOn: [], optional: false, allowSkippedDeps: false, literal: true, reads: [] }],
      output: [agent],
      source: 'agent',
    };
    return this.submit(workflow, input, { agent, input }, opts);
  }

  /** A run of a named workflow (from flows/) or an inline definition. */
  async submitWorkflow(ref: string | Record<string, unknown>, input: unknown, opts: SubmitOptions = {}): Promise<SubmitResult> {
    const workflow = this.deps.workflows.resolve(ref);
    const validInput = validateRunInput(workflow, input ?? {});
    return this.submit(workflow, validInput, { workflow: ref, input: validInput }, opts);
  }

  private async submit(workflow: CompiledWorkflow, input: unknown, request: unknown, opts: SubmitOptions): Promise<SubmitResult> {
    const { store } = this.deps;
    const runId = newRunId();
    const requestHash = createHash('sha256').update(JSON.stringify({ request, priority: opts.priority ?? null })).digest('hex');

    if (opts.idempotencyKey) {
      const holder = await store.claimIdempotencyKey(opts.idempotencyKey, runId, requestHash);
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
      workflow: workflow.name,
      status: 'queued',
      input,
      output: null,
      error: null,
      agents: [...new Set(workflow.steps.map((s) => s.agent))].sort(),
      failedSteps: [],
      skippedSteps: [],
      usage: { inputTokens: 0, outputTokens: 0 },
      priority: opts.priority ?? null,
      idempotencyKey: opts.idempotencyKey ?? null,
      scheduleId: opts.scheduleId ?? null,
      createdAt: now,
      startedAt: null,
      finishedAt: null,
    };
    const steps: NewStep[] = workflow.steps.map((s) => ({ stepId: s.id, agent: s.agent, dependsOn: s.dependsOn, optional: s.optional }));
    const { tree, refIds } = buildFlow({
      runId,
      workflow,
      agentDefaults: (name) => this.deps.registry.require(name),
      ...(opts.priority ? { priority: opts.priority } : {}),
      retentionSeconds: store.retentionSeconds,
      refSafetyDelayMs: this.deps.refSafetyDelayMs,
    });

    // The run's state and its flow go out back to back on BullMQ's connection, which Redis
    // serves in order: no step can start before its run exists, and no round trip is waited
    // for in between.
    const created = store.createRun(run, { outputSteps: workflow.output, refIds }, steps);
    const added = this.deps.flowProducer.add(tree);
    const [c, a] = await Promise.allSettled([created, added]);
    const failed = [c, a].find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      const err = failed.reason as Error;
      // A flow without its run state drains by itself (its steps find no run and end); a run
      // without its flow would never execute: end it now rather than leave it queued.
      if (c.status === 'fulfilled') {
        await store.finishRun(runId, 'failed', { error: `could not enqueue the run: ${err.message}`, reason: 'enqueue failed' });
      }
      if (opts.idempotencyKey) await store.releaseIdempotencyKey(opts.idempotencyKey);
      throw err;
    }
    this.deps.logger.info({ runId, workflow: workflow.name, steps: steps.length }, 'run queued');
    return { id: runId, status: 'queued', created: true };
  }

  async get(runId: string): Promise<RunView> {
    const state = await this.deps.store.getRun(runId);
    if (state) return toRunView(state.run, state.steps);
    return this.fromArchive(runId, (a) => a.getRun(runId));
  }

  /**
   * The event log of a run that is no longer in Redis, from the archive (Redis holds the
   * live ones: see RunStore.readEvents). NotFoundError when neither has the run.
   */
  archivedEvents(runId: string): Promise<RunEvent[]> {
    return this.fromArchive(runId, (a) => a.getEvents(runId));
  }

  private async fromArchive<T>(runId: string, read: (archive: RunArchive) => Promise<T | null>): Promise<T> {
    const { archive } = this.deps;
    if (archive) {
      const found = await read(archive).catch((err: unknown) => {
        this.deps.logger.warn({ runId, err: (err as Error).message }, 'run archive unreachable');
        throw new UnavailableError(`run "${runId}" is not in Redis and the archive (MongoDB) cannot be reached; try again later`);
      });
      if (found) return found;
    }
    throw new NotFoundError(`run "${runId}" not found`);
  }

  async list(filter: ListRunsFilter): Promise<{ runs: RunRecord[]; nextCursor: string | null }> {
    if (this.deps.archive) {
      try {
        return await this.deps.archive.listRuns(filter);
      } catch (err) {
        if (err instanceof ValidationError) throw err;
        // MongoDB down: answer from Redis (runs within retention) rather than fail.
        this.deps.logger.warn({ err: (err as Error).message }, 'run archive unreachable; listing from Redis');
        if (filter.cursor) throw new UnavailableError('the run archive (MongoDB) cannot be reached to continue this listing; try again later');
      }
    }
    const { cursor: raw, ...rest } = filter;
    const cursor = raw ? decodeCursor(raw) : undefined;
    const { runs, next } = await this.deps.store.listRuns({ ...rest, ...(cursor ? { cursor } : {}) });
    return { runs, nextCursor: next ? Buffer.from(`${next.score}:${next.id}`).toString('base64url') : null };
  }

  async cancel(runId: string): Promise<{ id: string; status: string }> {
    const res = await this.deps.control.halt(runId, 'cancelled', { reason: 'run cancelled' });
    if (res.status === 'missing') throw new NotFoundError(`run "${runId}" not found`);
    if (!res.applied) throw new ConflictError(`run "${runId}" already finished with status ${res.status}`);
    return { id: runId, status: 'cancelled' };
  }
}

function decodeCursor(cursor: string): { score: number; id: string } {
  const [score, id] = Buffer.from(cursor, 'base64url').toString().split(':');
  if (!score || !id || !Number.isFinite(Number(score))) throw new ValidationError('invalid cursor', [{ path: 'cursor', message: 'not a cursor returned by this API' }]);
  return { score: Number(score), id };
}

export function toRunView(run: RunRecord, steps: StepRecord[]): RunView {
  return {
    ...run,
    steps,
    dag: {
      nodes: steps.map((s) => ({
        id: s.stepId,
        agent: s.agent,
        status: s.status,
        startedAt: s.startedAt,
        finishedAt: s.finishedAt,
        durationMs: s.startedAt && s.finishedAt ? Date.parse(s.finishedAt) - Date.parse(s.startedAt) : null,
      })),
      edges: steps.flatMap((s) => s.dependsOn.map((d) => ({ from: d, to: s.stepId }))),
    },
  };
}
