/**
 * Run state in Redis: a hash per run, a hash per step, the run's step list and ref set (both
 * appended to as a run grows), an ordered event list per run, a per-workspace time index of
 * runs, the compiled workflows runs execute (once per content), and (when a result sink is
 * configured) the outbox stream that feeds MongoDB. A finished run of a few steps is compacted
 * into its one hash (see keys.run and compacted.ts); every reader here takes either form.
 * Every change goes through one of the scripts in scripts/, so each is atomic with its event
 * and its outbox entry. Key names come from keys.ts only.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { toError } from '../errors/index.js';
import { silentLogger, type Logger } from '../logger.js';
import { compactedEvents, compactedRun, compactedSteps, COMPACTED_FIELDS } from './compacted.js';
import { RunEventFeed } from './event-feed.js';
import { parseEvent, parseMessage } from './events.js';
import { keys } from './keys.js';
import { listRuns, type ListFilter, type ListPage } from './run-listing.js';
import {
  RUN_FIELDS,
  STEP_FIELDS,
  createRun,
  createRunThen,
  DefinitionNotStoredError,
  type CreateRunArgs,
  gateDecide,
  type GateDecideReply,
  type GateDecision,
  parseJson,
  runFinish,
  stepBegin,
  stepCheckpoint,
  stepComplete,
  stepProgress,
  stepTransition,
  stepsAdd,
  type NewStep,
  type RunFinishArgs,
  type SettledSteps,
  stepsSettle,
  type RunFinishReply,
  type StepBeginArgs,
  type StepBeginReply,
  type StepCompleteReply,
  type StepResult,
  type StepTransition,
  type StepTransitionReply,
  type StepsAddArgs,
  type StepsAddReply,
  budgetReserve,
  budgetSettle,
  holdsRelease,
  type BudgetReservation,
  type HoldsSelection,
  stepFeedback,
  type StepFeedbackReply,
  type RecordFields,
} from './scripts/index.js';
import { type StepFeedback, type RunEvent, type RunRecord, type RunStatus, type StepRecord, type StepStatus, type Usage, isTerminalRun } from '../model/run.js';

export type { NewStep, RecordFields, StepReading, StepTransition, StepResult } from './scripts/index.js';

export interface RunStoreOptions {
  redis: Redis;
  prefix: string;
  retentionSeconds: number;
  /** Append finished steps and runs to the outbox stream (only when something consumes it). */
  outbox: boolean;
  /** Completed jobs each queue keeps (for Bull Board); 0 removes a job when it completes. @default 0 */
  keepCompletedJobs?: number;
  logger?: Logger;
}

export interface RunState {
  run: RunRecord;
  steps: StepRecord[];
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
}

/** Definitions' text and content id, once per definition object (the catalog's are reused by every run). */
const definitionKeys = new WeakMap<object, { id: string; text: string }>();

/** A run of more steps than this is settled with its steps read outside its finish script. */
export const SETTLE_IN_SCRIPT = 500;
const SETTLE_BATCH = 100;

function definitionKey(definition: unknown): { id: string; text: string } {
  const cached = typeof definition === 'object' && definition !== null ? definitionKeys.get(definition) : undefined;
  if (cached) return cached;
  const text = JSON.stringify(definition);
  const key = { id: createHash('sha256').update(text).digest('hex').slice(0, 32), text };
  if (typeof definition === 'object' && definition !== null) definitionKeys.set(definition, key);
  return key;
}

function decodeFields<T>(values: readonly (string | null)[], fields: readonly string[]): T {
  const out: Record<string, unknown> = {};
  fields.forEach((f, i) => (out[f] = parseJson(values[i])));
  return out as T;
}

export class RunStore {
  readonly redis: Redis;
  readonly prefix: string;
  readonly retentionSeconds: number;
  readonly outbox: boolean;
  readonly keepCompletedJobs: number;
  private readonly logger: Logger;
  private feed: RunEventFeed | undefined;
  /** Ids of the definitions this store has written (sent again only if Redis lost them). */
  private readonly storedDefinitions = new Set<string>();
  private readonly finishedListeners = new Set<(runId: string, status: RunStatus) => void>();

  constructor(opts: RunStoreOptions) {
    this.redis = opts.redis;
    this.prefix = opts.prefix;
    this.retentionSeconds = opts.retentionSeconds;
    this.outbox = opts.outbox;
    this.keepCompletedJobs = opts.keepCompletedJobs ?? 0;
    this.logger = opts.logger ?? silentLogger;
  }

  /**
   * A run's events after `after`, then live ones as they are appended, until `signal` fires.
   * Every follower of this process shares one Redis subscriber connection (see event-feed.ts).
   */
  followEvents(runId: string, after: number | undefined, signal: AbortSignal): AsyncGenerator<RunEvent> {
    this.feed ??= new RunEventFeed({
      redis: this.redis,
      prefix: this.prefix,
      logger: this.logger,
      read: (id, from, count) => this.readEvents(id, from, count),
      parse: parseMessage,
    });
    return this.feed.follow(runId, after, signal);
  }

  /** Runs and viewers the shared event reader serves now. */
  feedStats(): { runs: number; viewers: number } {
    return this.feed?.stats() ?? { runs: 0, viewers: 0 };
  }

  /**
   * Call `listener` for every run this store finishes, in this process, once the finish is
   * applied (the benchmark times runs with it). Returns the unsubscribe function.
   */
  onFinished(listener: (runId: string, status: RunStatus) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  /** Stop the shared event reader (its followers end). The connection is the caller's. */
  close(): void {
    this.feed?.close();
  }

  /**
   * Write a new run: record, steps, refs, index entry and `run.queued`, atomically; a run of more
   * than CREATE_IN_SCRIPT steps in parts (see create-run.ts), all before its jobs are added.
   */
  async createRun(run: RunRecord, parts: NewRun): Promise<void> {
    await this.withDefinition(run, parts, (args) => createRun(this.redis, args));
  }

  /**
   * Write a new run and its only job in one round trip: the run's write, then the job's, sent
   * back to back on `job.redis`, the connection of the job's queue (`job.add` sends there), so
   * Redis applies them in that order (see createRunThen). Throws when the run was not written
   * (the job may have been: the caller removes it); returns the job's error when the run was
   * written without its job.
   */
  async createRunWithJob(run: RunRecord, parts: NewRun, job: { redis: Redis; add: () => Promise<unknown> }): Promise<{ jobError?: Error }> {
    let jobError: Error | undefined;
    await this.withDefinition(run, parts, async (args) => {
      const res = await createRunThen(job.redis, args, job.add);
      if (res.created) throw res.created;
      jobError = res.job.status === 'rejected' ? toError(res.job.reason) : undefined;
    });
    return jobError ? { jobError } : {};
  }

  /** `write` with the run's definition stored once (sent only if Redis does not hold it). */
  private async withDefinition(run: RunRecord, parts: NewRun, write: (args: CreateRunArgs) => Promise<unknown>): Promise<void> {
    const { definition, ...rest } = parts;
    const args = { prefix: this.prefix, run, ...rest, outbox: this.outbox, retentionSeconds: this.retentionSeconds };
    if (definition === undefined) {
      await write(args);
      return;
    }
    const { id, text } = definitionKey(definition);
    try {
      await write({ ...args, definition: this.storedDefinitions.has(id) ? { id } : { id, text } });
    } catch (err) {
      if (!(err instanceof DefinitionNotStoredError)) throw err;
      await write({ ...args, definition: { id, text } }); // it expired meanwhile
    }
    if (this.storedDefinitions.size >= 10_000) this.storedDefinitions.clear();
    this.storedDefinitions.add(id);
  }

  async getRunStatus(runId: string): Promise<RunStatus | null> {
    return parseJson<RunStatus | null>(await this.redis.hget(keys.run(this.prefix, runId), 'status'));
  }

  /** The run record and every step record (in the order the steps were added). */
  async getRun(runId: string): Promise<RunState | null> {
    const replies = await this.redis
      .pipeline()
      .hmget(keys.run(this.prefix, runId), ...RUN_FIELDS, 'run', 'steps')
      .lrange(keys.runSteps(this.prefix, runId), 0, -1)
      .hgetall(keys.feedback(this.prefix, runId))
      .exec();
    const [[e1, values], [e2, stepIds], [e3, feedback]] = replies as [
      [Error | null, (string | null)[]],
      [Error | null, string[]],
      [Error | null, Record<string, string>],
    ];
    const err = e1 ?? e2 ?? e3;
    if (err) throw err;
    const [compacted, stepsJson] = values.slice(RUN_FIELDS.length);
    if (compacted) {
      // Feedback given after the run was compacted is kept beside it.
      const steps = compactedSteps(runId, stepsJson).map((s) => (feedback[s.stepId] ? { ...s, feedback: JSON.parse(feedback[s.stepId]!) as StepFeedback } : s));
      return { run: compactedRun(compacted, steps).run, steps };
    }
    if (values[0] === null) return null; // `id` is the first field
    return { run: decodeFields<RunRecord>(values, RUN_FIELDS), steps: await this.getSteps(runId, stepIds) };
  }

  /** The compiled workflow a run executes: null when the run is not in Redis or keeps none (an agent task). */
  async getDefinition(runId: string): Promise<unknown> {
    const [live, compacted] = await this.redis.hmget(keys.run(this.prefix, runId), 'definitionId', 'run');
    const id = compacted ? compactedRun(compacted).definitionId : parseJson<string | null>(live);
    return id ? parseJson(await this.redis.get(keys.definition(this.prefix, id))) : null;
  }

  async getSteps(runId: string, stepIds: readonly string[]): Promise<StepRecord[]> {
    return this.getStepFields(runId, stepIds, STEP_FIELDS);
  }

  /** Only these fields of steps' records (and `stepId`), e.g. without their inputs and outputs; a step not there is left out. */
  async getStepFields<K extends keyof StepRecord>(runId: string, stepIds: readonly string[], fields: readonly K[]): Promise<Pick<StepRecord, K | 'stepId'>[]> {
    if (stepIds.length === 0) return [];
    const read = ['stepId', ...fields.filter((f) => f !== 'stepId')];
    const pipe = this.redis.pipeline();
    for (const id of stepIds) pipe.hmget(keys.step(this.prefix, runId, id), ...read);
    const results = (await pipe.exec()) ?? [];
    return results.flatMap(([err, values]) => {
      if (err) throw err;
      const v = values as (string | null)[];
      return v[0] === null ? [] : [decodeFields<Pick<StepRecord, K | 'stepId'>>(v, read)];
    });
  }

  /** Ids of a workspace's runs created in [sinceMs, untilMs], newest first, at most `limit`. */
  runsCreatedBetween(workspaceId: string, sinceMs: number, untilMs: number, limit: number): Promise<string[]> {
    return this.redis.zrevrangebyscore(keys.runIndex(this.prefix, workspaceId), untilMs, sinceMs, 'LIMIT', 0, limit);
  }

  /**
   * Record feedback on a finished step. A compacted run's step record is rebuilt with it for
   * the outbox here (its step hash is gone), awaited, so MongoDB gets it too.
   */
  async addFeedback(runId: string, stepId: string, feedback: StepFeedback): Promise<StepFeedbackReply> {
    const reply = await stepFeedback(this.redis, {
      prefix: this.prefix,
      runId,
      stepId,
      feedback,
      retentionSeconds: this.retentionSeconds,
      outbox: this.outbox,
    });
    if (reply.result === 'recorded' && reply.where === 'compacted' && this.outbox) {
      const step = (await this.getRun(runId))?.steps.find((s) => s.stepId === stepId);
      if (step) await this.redis.xadd(keys.outbox(this.prefix), '*', 'kind', 'step', 'id', `${runId}.${stepId}`, 'doc', JSON.stringify(step));
    }
    return reply;
  }

  /** Reserve a call's estimate against the run's budget, as a lease: why it is refused, or '' (reserved, or no token/cost budget). */
  reserveBudget(runId: string, reservation: BudgetReservation): Promise<string> {
    return budgetReserve(this.redis, this.prefix, runId, reservation);
  }

  /** Release a reservation (once) and count what the call used. */
  settleBudget(runId: string, reservation: BudgetReservation, used: { tokens: number; costUsd: number }): Promise<string> {
    return budgetSettle(this.redis, this.prefix, runId, reservation, used);
  }

  /**
   * Release what the run's provider calls hold (turns booked and leases in the shared limiter,
   * budget reservations) now rather than when it expires: all of it when the run has ended (done
   * here by every finish), or the given steps' (cancelled, or whose run ended while they were
   * being admitted), or one step's attempts before `belowAttempt` (a recovered attempt took
   * over). Never throws: a failure is logged to `log`, and the holds expire by themselves.
   * Returns how many holds were released.
   */
  async releaseHolds(runId: string, which: HoldsSelection = {}, log: Logger = this.logger): Promise<number> {
    try {
      const released = await holdsRelease(this.redis, this.prefix, runId, which);
      if (released) log.debug({ runId, released, ...which }, 'released what the run’s calls held');
      return released;
    } catch (err) {
      log.warn({ runId, err: toError(err).message }, 'could not release what the run’s calls held; it expires by itself');
      return 0;
    }
  }

  /** A run's shared context and who wrote it, without the rest of the run (null: no such run in Redis). */
  async getRunContext(runId: string): Promise<Pick<RunRecord, 'context' | 'contextWriters'> | null> {
    const [status, context, contextWriters, compacted] = await this.redis.hmget(keys.run(this.prefix, runId), 'status', 'context', 'contextWriters', 'run');
    if (compacted) {
      const { run } = compactedRun(compacted);
      return { context: run.context, contextWriters: run.contextWriters };
    }
    if (status === null) return null;
    return { context: parseJson(context), contextWriters: parseJson(contextWriters) };
  }

  /** Names of a live run's shared context (a name nothing published is left out). */
  async getContext(runId: string, names: readonly string[]): Promise<Record<string, unknown>> {
    if (names.length === 0) return {};
    const values = await this.redis.hmget(keys.run(this.prefix, runId), ...names.map((n) => `context:${n}`));
    return Object.fromEntries(names.flatMap((n, i) => (values[i] == null ? [] : [[n, JSON.parse(values[i]) as unknown]])));
  }

  /** Why each of these steps is where it is (its `reason`; null: none, or no such step), in one round trip. */
  async stepReasons(steps: readonly { runId: string; stepId: string }[]): Promise<(string | null)[]> {
    if (steps.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const s of steps) pipe.hget(keys.step(this.prefix, s.runId, s.stepId), 'reason');
    const rows = (await pipe.exec()) ?? [];
    return rows.map(([err, v]) => (err || v == null ? null : parseJson<string | null>(v as string)));
  }

  /** A step's status and whether it is optional, without the rest of its record (its output can be large). */
  async getStepState(runId: string, stepId: string): Promise<Pick<StepRecord, 'status' | 'optional'> | null> {
    const [status, optional] = await this.redis.hmget(keys.step(this.prefix, runId, stepId), 'status', 'optional');
    if (status == null) return null;
    return { status: JSON.parse(status) as StepStatus, optional: parseJson<boolean | null>(optional) === true };
  }

  /**
   * Read what a starting step needs in one round trip (run status and input, the step and its
   * checkpoint, the steps it reads) and, when `fast` and every dependency is usable, move it to
   * running in the same script (see scripts/lua/step-begin.lua).
   */
  beginStep(runId: string, stepId: string, opts: Omit<StepBeginArgs, 'prefix' | 'runId' | 'stepId' | 'outbox'>): Promise<StepBeginReply> {
    return stepBegin(this.redis, { prefix: this.prefix, runId, stepId, outbox: this.outbox, ...opts });
  }

  /** Apply a status change if the step is in one of `from`. */
  transitionStep(runId: string, stepId: string, t: StepTransition): Promise<StepTransitionReply> {
    return stepTransition(this.redis, { prefix: this.prefix, runId, stepId, outbox: this.outbox, ...t });
  }

  /**
   * Record a step's result (see scripts/lua/step-complete.lua: a late answer is kept, never
   * dropped); with `finishRun` (the step is its run's only job), finish the run in the same write.
   */
  async completeStep(runId: string, stepId: string, result: StepResult, opts: { finishRun?: boolean } = {}): Promise<StepCompleteReply> {
    const reply = await stepComplete(this.redis, {
      prefix: this.prefix,
      runId,
      stepId,
      outbox: this.outbox,
      ...result,
      finishRun: opts.finishRun ?? false,
      retentionSeconds: this.retentionSeconds,
    });
    if (reply.finished) await this.finished(runId, reply.finished);
    return reply;
  }

  /**
   * While the step runs `attempt`: save its checkpoint (undefined keeps it) and `fields` of its
   * record; false when it no longer runs it. `usage` (what the delivery paid for since it last
   * recorded) is added to its usage either way (and to its run's once the run has finished);
   * `fields` are set too on a step that ended (cancelled) while `attempt` ran it.
   * `writeId`: see StepTransition.writeId.
   */
  saveCheckpoint(
    runId: string,
    stepId: string,
    attempt: number,
    checkpoint: unknown,
    usage?: Usage | null,
    writeId?: string,
    fields?: RecordFields,
  ): Promise<boolean> {
    return stepCheckpoint(this.redis, {
      prefix: this.prefix,
      runId,
      stepId,
      attempt,
      checkpoint,
      usage,
      outbox: this.outbox,
      ...(writeId ? { writeId } : {}),
      ...(fields ? { fields } : {}),
    });
  }

  /** Record the decision on a waiting approval gate, once (the gate reads it when its job wakes). */
  decideGate(runId: string, stepId: string, decision: GateDecision): Promise<GateDecideReply> {
    return gateDecide(this.redis, { prefix: this.prefix, runId, stepId, decision });
  }

  /** Add steps to a run on behalf of a running step (existing ones are left alone). */
  addSteps(runId: string, a: Omit<StepsAddArgs, 'prefix' | 'runId'>): Promise<StepsAddReply> {
    return stepsAdd(this.redis, { prefix: this.prefix, runId, ...a });
  }

  /**
   * Append a `step.progress` event `{attempt, ...data}` if the step is running that attempt:
   * a report arriving after the step ended, or from an earlier attempt, is dropped.
   */
  stepProgress(runId: string, stepId: string, attempt: number, data: Record<string, unknown>): Promise<boolean> {
    return stepProgress(this.redis, { prefix: this.prefix, runId, stepId, attempt, data });
  }

  /**
   * Finish a run once: the first caller wins, later ones get `applied: false` and the status
   * in force. Steps not yet finished end `cancelled` with `reason`. `auto` settles a run whose
   * steps' jobs are all done: status, error and output follow from the steps, and a step still
   * live lost its job and is failed.
   */
  async finishRun(
    runId: string,
    status: RunFinishArgs['status'],
    opts: { output?: unknown; error?: string | null; reason?: string } = {},
  ): Promise<RunFinishReply> {
    const settled = status === 'auto' ? await this.settleLargeRun(runId) : undefined;
    const res = await runFinish(this.redis, {
      prefix: this.prefix,
      runId,
      status,
      ...(settled ? { settled } : {}),
      ...opts,
      reason: opts.reason ?? `run ${status}`,
      outbox: this.outbox,
      retentionSeconds: this.retentionSeconds,
    });
    if (res.applied) await this.finished(runId, res.status);
    return res;
  }

  /**
   * A run of more than SETTLE_IN_SCRIPT steps, every one of them ended: its steps read and given
   * their TTL here, SETTLE_BATCH at a time (lua/steps-settle.lua), so that its finish is a short
   * script (one that read 10,000 steps would hold Redis for tens of milliseconds). Undefined
   * for a smaller run, a finished one, or one with a step still live (the script settles it,
   * failing the steps whose jobs were lost).
   */
  private async settleLargeRun(runId: string): Promise<SettledSteps | undefined> {
    const stepsKey = keys.runSteps(this.prefix, runId);
    const [n, status] = await Promise.all([this.redis.llen(stepsKey), this.redis.hget(keys.run(this.prefix, runId), 'status')]);
    // A finished run is left to the script, which says so (the first finisher won).
    if (n <= SETTLE_IN_SCRIPT || status === null || isTerminalRun(parseJson<RunStatus>(status))) return undefined;
    const failed: string[] = [];
    const skipped: string[] = [];
    let nFailed = 0;
    let requiredFailed: string | undefined;
    let inputTokens = 0;
    let outputTokens = 0;
    let costUsd: number | undefined;
    for (let i = 0; i < n; i += SETTLE_BATCH) {
      const part = await stepsSettle(this.redis, { prefix: this.prefix, runId, retentionSeconds: this.retentionSeconds, from: i, to: i + SETTLE_BATCH - 1 });
      if (!part) return undefined;
      if (part.failed) failed.push(part.failed);
      if (part.skipped) skipped.push(part.skipped);
      nFailed += part.nFailed;
      requiredFailed ??= part.requiredFailed;
      inputTokens += part.inputTokens;
      outputTokens += part.outputTokens;
      if (part.costUsd !== undefined) costUsd = (costUsd ?? 0) + part.costUsd;
    }
    const usage = JSON.stringify({ inputTokens, outputTokens, ...(costUsd !== undefined ? { costUsd: Math.round(costUsd * 1e8) / 1e8 } : {}) });
    return { failed: `[${failed.join(',')}]`, nFailed, skipped: `[${skipped.join(',')}]`, usage, ...(requiredFailed ? { requiredFailed } : {}) };
  }

  /** A run has ended, by whichever path: what its calls held goes back at once (its turns booked no longer hold back other runs' calls). */
  private async finished(runId: string, status: RunStatus): Promise<void> {
    await this.releaseHolds(runId);
    for (const listener of this.finishedListeners) listener(runId, status);
  }

  /**
   * Runs still queued that were last checked before `before` (ms), oldest first, at most
   * `limit`: candidates for the sweeper (a submission cut short leaves one without a flow).
   */
  queuedBefore(before: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(keys.queuedRuns(this.prefix), '-inf', before, 'LIMIT', 0, limit);
  }

  /** The step of a run that has exactly one (whose job is then the run's only job), or null. */
  async onlyStep(runId: string): Promise<{ stepId: string; agent: string | undefined } | null> {
    const ids = await this.redis.lrange(keys.runSteps(this.prefix, runId), 0, 1);
    if (ids.length !== 1) return null;
    const agent = parseJson<string | null>(await this.redis.hget(keys.step(this.prefix, runId, ids[0]!), 'agent'));
    return { stepId: ids[0]!, agent: agent ?? undefined };
  }

  /** Mark queued runs as checked now (the sweeper looks at them again later), or forget them. */
  async touchQueued(runIds: readonly string[], forget: readonly string[] = []): Promise<void> {
    if (runIds.length === 0 && forget.length === 0) return;
    const tx = this.redis.multi();
    const now = Date.now();
    if (runIds.length) tx.zadd(keys.queuedRuns(this.prefix), ...runIds.flatMap((id) => [now, id]));
    if (forget.length) tx.zrem(keys.queuedRuns(this.prefix), ...forget);
    await tx.exec();
  }

  /** Release the idempotency key a run holds, if it still holds it. */
  async releaseIdempotencyKeyOf(runId: string): Promise<void> {
    const [liveKey, liveWorkspace, compacted] = await this.redis.hmget(keys.run(this.prefix, runId), 'idempotencyKey', 'workspaceId', 'run');
    const record = compacted
      ? compactedRun(compacted).run
      : { idempotencyKey: parseJson<string | null>(liveKey), workspaceId: parseJson<string | null>(liveWorkspace) };
    const { idempotencyKey: key, workspaceId } = record;
    if (!key || !workspaceId) return;
    const k = keys.idempotency(this.prefix, workspaceId, key);
    const held = await this.redis.get(k);
    if (held?.startsWith(`${runId} `)) await this.redis.del(k);
  }

  /** At most `count` events after the id `after` (exclusive; 0 for the first), oldest first. */
  async readEvents(runId: string, after = 0, count = 1000): Promise<RunEvent[]> {
    return (await readEvents(this.redis, this.prefix, runId, after, count)).events;
  }

  /**
   * Claim a workspace's idempotency key for `runId` and the submission's hash, atomically (so
   * a reuse with another request is told apart even while the first run is still being
   * written). Returns null when claimed, or the holder.
   */
  async claimIdempotencyKey(workspaceId: string, key: string, runId: string, requestHash: string): Promise<{ runId: string; requestHash: string } | null> {
    const k = keys.idempotency(this.prefix, workspaceId, key);
    const ok = await this.redis.set(k, `${runId} ${requestHash}`, 'EX', this.retentionSeconds, 'NX');
    if (ok === 'OK') return null;
    const held = await this.redis.get(k);
    if (held === null) return this.claimIdempotencyKey(workspaceId, key, runId, requestHash); // expired in between
    const [holder = '', hash = ''] = held.split(' ');
    return { runId: holder, requestHash: hash };
  }

  async releaseIdempotencyKey(workspaceId: string, key: string): Promise<void> {
    await this.redis.del(keys.idempotency(this.prefix, workspaceId, key));
  }

  /**
   * Newest-first page of a workspace's runs (see run-listing.ts): at most `maxScan` index
   * entries are read, so a page may hold fewer than `limit` runs, with `next` to go on from.
   */
  listRuns(filter: ListFilter): Promise<ListPage> {
    return listRuns(this.redis, this.prefix, this.retentionSeconds, filter);
  }
}

/**
 * At most `count` entries of a run's event log after the id `after` (exclusive), live (its
 * list) or compacted, as events; `entries` counts what was read, bad entries included.
 */
export async function readEvents(redis: Redis, prefix: string, runId: string, after: number, count: number): Promise<{ events: RunEvent[]; entries: number }> {
  const replies = await redis
    .pipeline()
    .lrange(keys.events(prefix, runId), after, after + count - 1)
    .hget(keys.run(prefix, runId), COMPACTED_FIELDS[2])
    .exec();
  const [[e1, live], [e2, compacted]] = replies as [[Error | null, string[]], [Error | null, string | null]];
  const err = e1 ?? e2;
  if (err) throw err;
  if (live.length === 0 && compacted) return compactedEvents(runId, compacted, after, count);
  return { events: live.flatMap((raw, i) => parseEvent(String(after + i + 1), raw, runId) ?? []), entries: live.length };
}
