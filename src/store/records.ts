/**
 * Run records: a run's hash (live, or compacted once finished: see compacted.ts), the compiled
 * workflow it executes (stored once per content and workspace), the workspace's indexes
 * (listing: run-listing.ts), its idempotency keys, and the cell's set of runs still queued (the
 * sweeper's). Writes go through scripts/ (create-run); reads are plain commands.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { compactedRun, compactedSteps } from './compacted.js';
import { keys, parseRunKey } from './keys.js';
import { listRuns, type ListFilter, type ListPage } from './run-listing.js';
import type { Cell, Scope, ScopedRun } from './scope.js';
import {
  RUN_FIELDS,
  createRun,
  DefinitionNotStoredError,
  type Admission,
  type CreateRunArgs,
  type CreateRunReply,
  type NewStep,
  parseJson,
} from './scripts/index.js';
import { decodeFields, type StoreContext } from './store-context.js';
import type { StepState } from './steps.js';
import { isTerminalRun, type RunRecord, type RunStatus, type StepFeedback, type StepRecord } from '../model/run.js';

export interface RunState {
  run: RunRecord;
  steps: StepRecord[];
  /** What its provider calls in flight hold against its token and cost budget (a live run with one), else absent. */
  reserved?: BudgetReserved;
}

/** Reservations of calls in flight against a run's budget (scripts/lua/budget-reserve.lua). */
export interface BudgetReserved {
  tokens: number;
  costUsd: number;
}

/** What a new run is made of besides its record. */
export interface NewRun {
  /** Steps whose outputs form the run output. */
  outputSteps: readonly string[];
  /**
   * The compiled workflow it executes, stored once for every run of the same one; undefined
   * for a run whose definition follows from its record (an agent task).
   */
  definition: unknown;
  /** The steps of the definition, in topological order. */
  steps: readonly NewStep[];
  /** Every ref job of the run's flow. */
  refIds: readonly string[];
  /** The run's `createdAt` in epoch ms, when the caller has it (else it is parsed from the record). */
  createdAtMs?: number;
}

/** Definitions' text and content id, once per definition object (the catalog's are reused by every run). */
const definitionKeys = new WeakMap<object, { id: string; text: string }>();

function definitionKey(definition: unknown): { id: string; text: string } {
  const cached = typeof definition === 'object' && definition !== null ? definitionKeys.get(definition) : undefined;
  if (cached) return cached;
  const text = JSON.stringify(definition);
  const key = { id: createHash('sha256').update(text).digest('hex').slice(0, 32), text };
  if (typeof definition === 'object' && definition !== null) definitionKeys.set(definition, key);
  return key;
}

export class RunRecords {
  /** Keys of the definitions this store has written (sent again only if Redis lost them). */
  private readonly storedDefinitions = new Set<string>();

  constructor(
    private readonly ctx: StoreContext,
    private readonly steps: Pick<StepState, 'get'>,
  ) {}

  private get redis(): Redis {
    return this.ctx.redis;
  }

  /**
   * Write a new run: record, steps, refs, index entry and `run.queued`, atomically; a run of more
   * than CREATE_IN_SCRIPT steps in parts (see create-run.ts), all before its jobs are added. With
   * `admission`, the same script first asks the spend envelopes (a run one refuses is not
   * written: `refused`) and takes the fair turns of its ready jobs.
   */
  create(scope: Scope, run: RunRecord, parts: NewRun, admission?: Admission): Promise<CreateRunReply> {
    if (run.workspaceId !== scope.workspace)
      return Promise.reject(new Error(`run ${run.id} of workspace "${run.workspaceId}" written in "${scope.workspace}"`));
    const args: CreateRunArgs = {
      scope,
      run,
      outputSteps: parts.outputSteps,
      steps: parts.steps,
      refIds: parts.refIds,
      createdAtMs: parts.createdAtMs,
      outbox: this.ctx.outbox,
      retentionSeconds: this.ctx.retentionSeconds,
      admission,
    };
    // A run whose definition follows from its record (an agent task) is one write, as it is.
    if (parts.definition === undefined) return createRun(this.redis, args);
    return this.withDefinition(scope, parts.definition, args, (a) => createRun(this.redis, a));
  }

  /** `write` with the run's definition stored once (sent only if Redis does not hold it). */
  private async withDefinition(
    scope: Scope,
    definition: unknown,
    args: CreateRunArgs,
    write: (args: CreateRunArgs) => Promise<CreateRunReply>,
  ): Promise<CreateRunReply> {
    const { id, text } = definitionKey(definition);
    const stored = keys.definition(scope, id);
    let reply: CreateRunReply;
    try {
      reply = await write({ ...args, definition: this.storedDefinitions.has(stored) ? { id } : { id, text } });
    } catch (err) {
      if (!(err instanceof DefinitionNotStoredError)) throw err;
      reply = await write({ ...args, definition: { id, text } }); // it expired meanwhile
    }
    if (reply.refused) return reply;
    if (this.storedDefinitions.size >= 10_000) this.storedDefinitions.clear();
    this.storedDefinitions.add(stored);
    return reply;
  }

  async status(scope: Scope, runId: string): Promise<RunStatus | null> {
    return parseJson<RunStatus | null>(await this.redis.hget(keys.run(scope, runId), 'status'));
  }

  /** The run record and every step record (in the order the steps were added). */
  async get(scope: Scope, runId: string): Promise<RunState | null> {
    const replies = await this.redis
      .pipeline()
      .hmget(keys.run(scope, runId), ...RUN_FIELDS, 'run', 'steps', 'reservedTokens', 'reservedCostUsd')
      .lrange(keys.runSteps(scope, runId), 0, -1)
      .hgetall(keys.feedback(scope, runId))
      .exec();
    const [[e1, values], [e2, stepIds], [e3, feedback]] = replies as [
      [Error | null, (string | null)[]],
      [Error | null, string[]],
      [Error | null, Record<string, string>],
    ];
    const err = e1 ?? e2 ?? e3;
    if (err) throw err;
    const [compacted, stepsJson, reservedTokens, reservedCostUsd] = values.slice(RUN_FIELDS.length);
    if (compacted) {
      // Feedback given after the run was compacted is kept beside it.
      const steps = compactedSteps(runId, stepsJson).map((s) => (feedback[s.stepId] ? { ...s, feedback: JSON.parse(feedback[s.stepId]!) as StepFeedback } : s));
      return { run: compactedRun(compacted, steps).run, steps };
    }
    if (values[0] === null) return null; // `id` is the first field
    const run = decodeFields<RunRecord>(values, RUN_FIELDS);
    const steps = await this.steps.get(scope, runId, stepIds);
    const { budget } = run;
    if (isTerminalRun(run.status) || !budget || (budget.maxTokens === undefined && budget.maxCostUsd === undefined)) return { run, steps };
    // Rounded as the reservations were written (9 decimals): a float's last digits are noise.
    const reserved = { tokens: Number(reservedTokens ?? 0), costUsd: Math.max(0, Number(Number(reservedCostUsd ?? 0).toFixed(9))) };
    return { run, steps, reserved };
  }

  /** The compiled workflow a run executes: null when the run is not in Redis or keeps none (an agent task). */
  async definition(scope: Scope, runId: string): Promise<unknown> {
    const [live, compacted] = await this.redis.hmget(keys.run(scope, runId), 'definitionId', 'run');
    const id = compacted ? compactedRun(compacted).definitionId : parseJson<string | null>(live);
    return id ? parseJson(await this.redis.get(keys.definition(scope, id))) : null;
  }

  /**
   * Some fields of a run's record, without the rest of the run, in one read whether it is live
   * or compacted (null: no such run in Redis). A field it does not hold reads as null.
   */
  async fields<K extends keyof RunRecord>(scope: Scope, runId: string, names: readonly K[]): Promise<{ [F in K]: RunRecord[F] | null } | null> {
    const [status, compacted, ...values] = await this.redis.hmget(keys.run(scope, runId), 'status', 'run', ...names);
    if (compacted) {
      const { run } = compactedRun(compacted);
      return Object.fromEntries(names.map((n) => [n, run[n] ?? null])) as { [F in K]: RunRecord[F] | null };
    }
    if (status === null) return null;
    return Object.fromEntries(names.map((n, i) => [n, parseJson(values[i] ?? null)])) as { [F in K]: RunRecord[F] | null };
  }

  /** Names of a live run's shared context (a name nothing published is left out). */
  async contextValues(scope: Scope, runId: string, names: readonly string[]): Promise<Record<string, unknown>> {
    if (names.length === 0) return {};
    const values = await this.redis.hmget(keys.run(scope, runId), ...names.map((n) => `context:${n}`));
    return Object.fromEntries(names.flatMap((n, i) => (values[i] == null ? [] : [[n, JSON.parse(values[i]) as unknown]])));
  }

  /** Ids of the workspace's runs created in [sinceMs, untilMs], newest first, at most `limit`. */
  createdBetween(scope: Scope, sinceMs: number, untilMs: number, limit: number): Promise<string[]> {
    return this.redis.zrevrangebyscore(keys.runIndex(scope), untilMs, sinceMs, 'LIMIT', 0, limit);
  }

  /**
   * Newest-first page of the workspace's runs (see run-listing.ts): at most `maxScan` index
   * entries are read, so a page may hold fewer than `limit` runs, with `next` to go on from.
   */
  list(scope: Scope, filter: ListFilter): Promise<ListPage> {
    return listRuns(this.redis, scope, this.ctx.retentionSeconds, filter);
  }

  /** The step of a run that has exactly one (whose job is then the run's only job), or null. */
  async onlyStep(scope: Scope, runId: string): Promise<{ stepId: string; agent: string | undefined } | null> {
    const ids = await this.redis.lrange(keys.runSteps(scope, runId), 0, 1);
    if (ids.length !== 1) return null;
    const agent = parseJson<string | null>(await this.redis.hget(keys.step(scope, runId, ids[0]!), 'agent'));
    return { stepId: ids[0]!, agent: agent ?? undefined };
  }

  /**
   * The cell's runs still queued that were last checked before `before` (ms), oldest first, at
   * most `limit`: candidates for the sweeper (a submission cut short leaves one without a flow).
   */
  async queuedBefore(cell: Cell, before: number, limit: number): Promise<ScopedRun[]> {
    const members = await this.redis.zrangebyscore(keys.queuedRuns(cell), '-inf', before, 'LIMIT', 0, limit);
    const runs = members.map((m) => parseRunKey(cell, m));
    // A member that names no run of the cell (written by an older version) can never be swept: dropped.
    const strays = members.filter((_, i) => !runs[i]);
    if (strays.length) await this.redis.zrem(keys.queuedRuns(cell), ...strays);
    return runs.filter((r): r is ScopedRun => r !== undefined);
  }

  /** Mark queued runs as checked now (the sweeper looks at them again later), or forget them. */
  async touchQueued(cell: Cell, runs: readonly ScopedRun[], forget: readonly ScopedRun[] = []): Promise<void> {
    if (runs.length === 0 && forget.length === 0) return;
    const tx = this.redis.multi();
    const now = Date.now();
    if (runs.length) tx.zadd(keys.queuedRuns(cell), 'XX', ...runs.flatMap((r) => [now, keys.run(r.scope, r.runId)]));
    if (forget.length) tx.zrem(keys.queuedRuns(cell), ...forget.map((r) => keys.run(r.scope, r.runId)));
    await tx.exec();
  }

  /**
   * Claim the workspace's idempotency key for `runId` and the submission's hash, atomically (so
   * a reuse with another request is told apart even while the first run is still being
   * written). Returns null when claimed, or the holder.
   */
  async claimIdempotencyKey(scope: Scope, key: string, runId: string, requestHash: string): Promise<{ runId: string; requestHash: string } | null> {
    const k = keys.idempotency(scope, key);
    const ok = await this.redis.set(k, `${runId} ${requestHash}`, 'EX', this.ctx.retentionSeconds, 'NX');
    if (ok === 'OK') return null;
    const held = await this.redis.get(k);
    if (held === null) return this.claimIdempotencyKey(scope, key, runId, requestHash); // expired in between
    const [holder = '', hash = ''] = held.split(' ');
    return { runId: holder, requestHash: hash };
  }

  async releaseIdempotencyKey(scope: Scope, key: string): Promise<void> {
    await this.redis.del(keys.idempotency(scope, key));
  }

  /** Release the idempotency key a run holds, if it still holds it. */
  async releaseIdempotencyKeyOf(scope: Scope, runId: string): Promise<void> {
    const [liveKey, compacted] = await this.redis.hmget(keys.run(scope, runId), 'idempotencyKey', 'run');
    const key = compacted ? compactedRun(compacted).run.idempotencyKey : parseJson<string | null>(liveKey);
    if (!key) return;
    const k = keys.idempotency(scope, key);
    const held = await this.redis.get(k);
    if (held?.startsWith(`${runId} `)) await this.redis.del(k);
  }
}
