/**
 * Live run state in Redis: one hash per run, one per step, an ordered event stream per run,
 * a time index of runs, and (when a result sink is configured) the outbox stream that feeds
 * MongoDB. State changes go through the Lua scripts in lua.ts so each is atomic with its
 * event and its outbox entry.
 */
import type { Redis } from 'ioredis';
import { keys } from './keys.js';
import { CREATE_STEPS, RUN_FIELDS, RUN_FINISH, STEP_BEGIN, STEP_FIELDS, STEP_PROGRESS, STEP_TRANSITION } from './lua.js';
import { RunEvent, type RunEventType, type RunRecord, type RunStatus, type StepRecord, type StepStatus } from './types.js';

export interface RunStoreOptions {
  redis: Redis;
  prefix: string;
  retentionSeconds: number;
  /** Append finished steps and runs to the outbox stream (only when something consumes it). */
  outbox: boolean;
  /**
   * BullMQ's own connection (default: `redis`). Writes that must land before a BullMQ command
   * issued right after them (a new run before its flow; a step's result before its job
   * completes) go on it: Redis runs the commands of one connection in order, so the two need
   * not wait for each other.
   */
  queueRedis?: Redis;
}

/**
 * Internal bookkeeping kept beside the public run record (with `steps`, the step ids in
 * topological order, which createRun takes from the steps it is given).
 */
export interface RunMeta {
  /** Steps whose outputs form the run output. */
  outputSteps: string[];
  /** Every ref job of the run (woken when the run ends early). */
  refIds: string[];
}

export interface RunState {
  run: RunRecord;
  steps: StepRecord[];
}

export interface StepTransition {
  /** Statuses the step may be in for the change to apply. */
  from: readonly StepStatus[];
  to: StepStatus;
  fields?: Partial<Omit<StepRecord, 'status' | 'runId' | 'stepId'>>;
  event?: { type: RunEventType; data?: Record<string, unknown> };
}

/** A step of a new run: its record starts `pending` with these fields. */
export type NewStep = Pick<StepRecord, 'stepId' | 'agent' | 'dependsOn' | 'optional'>;

/** A step as another step reads it (its dependency or template source). */
export interface StepReading {
  stepId: string;
  status: StepStatus;
  optional: boolean;
  output: string | null;
}

export type StepBegin =
  | { mode: 'missing' }
  | { mode: 'done'; stepStatus: StepStatus }
  | { mode: 'slow' | 'running'; runInput: unknown; startedAt: string | null; reads: StepReading[] };

type ScriptRedis = Redis & {
  syStepBegin(...args: (string | number)[]): Promise<(string | null)[]>;
  syStepTransition(...args: (string | number)[]): Promise<[number, string]>;
  syRunFinish(...args: (string | number)[]): Promise<[number, string, string?]>;
  syStepProgress(...args: (string | number)[]): Promise<number>;
};
type ScriptPipeline = ReturnType<Redis['multi']> & { syCreateSteps(...args: (string | number)[]): ScriptPipeline };

const encodeFields = (obj: Record<string, unknown>): string[] =>
  Object.entries(obj).flatMap(([k, v]) => [k, JSON.stringify(v ?? null)]);

function decodeHash<T>(hash: Record<string, string>, fields: readonly string[]): T {
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f] = hash[f] === undefined ? null : JSON.parse(hash[f]);
  return out as T;
}

export class RunStore {
  readonly redis: ScriptRedis;
  private readonly queueRedis: ScriptRedis;
  readonly prefix: string;
  readonly retentionSeconds: number;
  readonly outbox: boolean;

  constructor(opts: RunStoreOptions) {
    this.redis = opts.redis as ScriptRedis;
    this.queueRedis = (opts.queueRedis ?? opts.redis) as ScriptRedis;
    this.prefix = opts.prefix;
    this.retentionSeconds = opts.retentionSeconds;
    this.outbox = opts.outbox;
    // Each script is defined only on the connection that runs it (ioredis copies a
    // connection's scripts into every pipeline made on it, BullMQ's included). ioredis sends a
    // script in full the first time it is used on a socket, then by SHA.
    this.redis.defineCommand('syStepBegin', { numberOfKeys: 4, lua: STEP_BEGIN });
    this.redis.defineCommand('syRunFinish', { numberOfKeys: 3, lua: RUN_FINISH });
    this.redis.defineCommand('syStepProgress', { numberOfKeys: 2, lua: STEP_PROGRESS });
    for (const r of new Set([this.redis, this.queueRedis])) r.defineCommand('syStepTransition', { numberOfKeys: 4, lua: STEP_TRANSITION });
    this.queueRedis.defineCommand('syCreateSteps', { numberOfKeys: 1, lua: CREATE_STEPS });
  }

  /**
   * Write a new run, its steps, its index entry and its `run.queued` event in one transaction,
   * on BullMQ's connection: the transaction is sent before this returns, so a flow added right
   * after it (without awaiting) cannot start a step before the run exists. `steps` are in
   * topological order.
   */
  createRun(run: RunRecord, meta: RunMeta, steps: readonly NewStep[]): Promise<unknown> {
    const tx = this.queueRedis.multi() as ScriptPipeline;
    const runKey = keys.run(this.prefix, run.id);
    tx.hset(runKey, ...encodeFields({ ...run, steps: steps.map((s) => s.stepId), ...meta }));
    const plan = JSON.stringify(steps.map((s) => [s.stepId, s.agent, JSON.stringify(s.dependsOn), s.optional]));
    tx.syCreateSteps(runKey, JSON.stringify(run.id), JSON.stringify(run.createdAt), plan);
    tx.zadd(keys.runIndex(this.prefix), Date.parse(run.createdAt), run.id);
    tx.xadd(keys.events(this.prefix, run.id), '*', 'e', JSON.stringify({ type: 'run.queued', runId: run.id, at: run.createdAt, data: { workflow: run.workflow } }));
    // The system of record lists live runs too, not only finished ones.
    if (this.outbox) tx.xadd(keys.outbox(this.prefix), '*', 'kind', 'run', 'id', run.id, 'doc', JSON.stringify(run));
    return tx.exec().then((replies) => {
      const failed = replies?.find(([err]) => err);
      if (failed) throw failed[0];
      return replies;
    });
  }

  async getRunStatus(runId: string): Promise<RunStatus | null> {
    const v = await this.redis.hget(keys.run(this.prefix, runId), 'status');
    return v === null ? null : (JSON.parse(v) as RunStatus);
  }

  async getRun(runId: string): Promise<RunState | null> {
    const hash = await this.redis.hgetall(keys.run(this.prefix, runId));
    if (!hash.id) return null;
    const run = decodeHash<RunRecord>(hash, RUN_FIELDS);
    const { steps: stepIds } = decodeHash<{ steps: string[] }>(hash, ['steps']);
    const steps = await this.getSteps(runId, stepIds);
    return { run, steps };
  }

  async getSteps(runId: string, stepIds: readonly string[]): Promise<StepRecord[]> {
    if (stepIds.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const id of stepIds) pipe.hgetall(keys.step(this.prefix, runId, id));
    const results = (await pipe.exec()) ?? [];
    return results.flatMap(([err, hash]) => {
      if (err) throw err;
      const h = hash as Record<string, string>;
      return h.stepId ? [decodeHash<StepRecord>(h, STEP_FIELDS)] : [];
    });
  }

  /** A step's status and whether it is optional, without the rest of its record (its output can be large). */
  async getStepState(runId: string, stepId: string): Promise<Pick<StepRecord, 'status' | 'optional'> | null> {
    const [status, optional] = await this.redis.hmget(keys.step(this.prefix, runId, stepId), 'status', 'optional');
    if (status == null) return null;
    return { status: JSON.parse(status) as StepStatus, optional: optional != null && (JSON.parse(optional) as boolean) };
  }

  /**
   * Read what a starting step needs in one round trip (run status and input, the step, the
   * steps it reads) and, when `fast` and every dependency succeeded (or failed optional), move
   * it to running in the same script.
   */
  async beginStep(
    runId: string,
    stepId: string,
    opts: { attempt: number; fast: boolean; deps: readonly string[]; extra: readonly string[]; needsOutput: (stepId: string) => boolean },
  ): Promise<StepBegin> {
    const ids = [...opts.deps, ...opts.extra];
    const r = await this.redis.syStepBegin(
      keys.run(this.prefix, runId),
      keys.step(this.prefix, runId, stepId),
      keys.events(this.prefix, runId),
      keys.outbox(this.prefix),
      opts.attempt,
      new Date().toISOString(),
      this.outbox ? '1' : '0',
      opts.fast ? '1' : '0',
      opts.deps.length,
      ids.map((id) => (opts.needsOutput(id) ? '1' : '0')).join('') || '-',
      ...ids,
    );
    const mode = r[0] as StepBegin['mode'];
    if (mode === 'missing') return { mode };
    if (mode === 'done') return { mode, stepStatus: r[1] as StepStatus };
    const json = (v: string | null | undefined) => (v == null ? null : JSON.parse(v));
    const reads: StepReading[] = [];
    for (let i = 5; i < r.length; i += 4) {
      reads.push({ stepId: r[i]!, status: json(r[i + 1]), optional: json(r[i + 2]) === true, output: json(r[i + 3]) });
    }
    return { mode, runInput: json(r[3]), startedAt: json(r[4]), reads };
  }

  /** Apply a status change if the step is in one of `from`; returns whether it applied. */
  transitionStep(runId: string, stepId: string, t: StepTransition): Promise<{ applied: boolean; status: string }> {
    return this.transition(this.redis, runId, stepId, t);
  }

  /**
   * The same, sent on BullMQ's connection before the caller lets BullMQ complete the step's
   * job: Redis applies it before the job's completion, so whatever the completion starts (the
   * step's dependents, the run's root job) sees the step's result; the caller need not wait
   * for the reply first (one round trip less per step). The change is sent synchronously.
   */
  transitionStepAhead(runId: string, stepId: string, t: StepTransition): Promise<{ applied: boolean; status: string }> {
    return this.transition(this.queueRedis, runId, stepId, t);
  }

  /**
   * Append a `step.progress` event `{attempt, ...data}` if the step is running that attempt:
   * a report arriving after the step ended, or from an earlier attempt, is dropped.
   */
  async stepProgress(runId: string, stepId: string, attempt: number, data: Record<string, unknown>): Promise<boolean> {
    const appended = await this.redis.syStepProgress(keys.step(this.prefix, runId, stepId), keys.events(this.prefix, runId), attempt, new Date().toISOString(), JSON.stringify({ attempt, ...data }));
    return appended === 1;
  }

  private async transition(redis: ScriptRedis, runId: string, stepId: string, t: StepTransition): Promise<{ applied: boolean; status: string }> {
    const [applied, status] = await redis.syStepTransition(
      keys.step(this.prefix, runId, stepId),
      keys.run(this.prefix, runId),
      keys.events(this.prefix, runId),
      keys.outbox(this.prefix),
      t.from.join(','),
      t.to,
      t.event?.type ?? '',
      JSON.stringify(t.event?.data ?? {}),
      new Date().toISOString(),
      this.outbox ? '1' : '0',
      ...encodeFields(t.fields ?? {}),
    );
    return { applied: applied === 1, status };
  }

  /**
   * Finish a run once: the first caller wins, later ones get `applied: false` and the status
   * in force. Steps not yet finished end `cancelled` with `reason`. `auto` settles a run whose
   * steps are all done: status, error and output follow from the steps (see lua.ts); a step
   * still live is then failed as lost, or with `whenLive: 'wait'` nothing changes and the status
   * returned is `live`.
   */
  async finishRun(
    runId: string,
    status: Exclude<RunStatus, 'queued' | 'running'> | 'auto',
    opts: { output?: unknown; error?: string | null; reason?: string; whenLive?: 'lost' | 'wait' } = {},
  ): Promise<{ applied: boolean; status: string; cancelledSteps: { stepId: string; was: StepStatus }[] }> {
    const [applied, current, cancelled] = await this.redis.syRunFinish(
      keys.run(this.prefix, runId),
      keys.events(this.prefix, runId),
      keys.outbox(this.prefix),
      status,
      JSON.stringify(opts.output ?? null),
      JSON.stringify(opts.error ?? null),
      new Date().toISOString(),
      this.outbox ? '1' : '0',
      this.retentionSeconds,
      JSON.stringify(opts.reason ?? `run ${status}`),
      opts.whenLive ?? 'lost',
    );
    const cancelledSteps = (cancelled ? cancelled.split(',') : []).map((pair) => {
      const [stepId = '', was = 'pending'] = pair.split('=');
      return { stepId, was: was as StepStatus };
    });
    return { applied: applied === 1, status: current, cancelledSteps };
  }

  /** Events after `afterId` (exclusive), oldest first. */
  async readEvents(runId: string, afterId?: string, count = 1000): Promise<RunEvent[]> {
    const start = afterId ? `(${afterId}` : '-';
    const entries = await this.redis.xrange(keys.events(this.prefix, runId), start, '+', 'COUNT', count);
    return entries.flatMap(([id, fields]) => parseEvent(id, fields) ?? []);
  }

  /**
   * Claim an idempotency key for `runId` and the submission's hash, atomically (so a reuse
   * with another request is told apart even while the first run is still being written).
   * Returns null when claimed, or the holder.
   */
  async claimIdempotencyKey(key: string, runId: string, requestHash: string): Promise<{ runId: string; requestHash: string } | null> {
    const k = keys.idempotency(this.prefix, key);
    const ok = await this.redis.set(k, `${runId} ${requestHash}`, 'EX', this.retentionSeconds, 'NX');
    if (ok === 'OK') return null;
    const held = await this.redis.get(k);
    if (held === null) return this.claimIdempotencyKey(key, runId, requestHash); // expired in between
    const [holder = '', hash = ''] = held.split(' ');
    return { runId: holder, requestHash: hash };
  }

  async releaseIdempotencyKey(key: string): Promise<void> {
    await this.redis.del(keys.idempotency(this.prefix, key));
  }

  /**
   * Newest-first page of runs from the Redis index. `cursor` is the score/id of the last item
   * of the previous page. Runs past retention are pruned from the index as they are met.
   */
  async listRuns(filter: { status?: string; workflow?: string; agent?: string; limit: number; cursor?: { score: number; id: string } }): Promise<{ runs: RunRecord[]; next?: { score: number; id: string } }> {
    const index = keys.runIndex(this.prefix);
    const out: RunRecord[] = [];
    let max: string = filter.cursor ? String(filter.cursor.score) : '+inf';
    let skipThrough = filter.cursor?.id;
    const batch = Math.max(50, filter.limit * 2);
    for (;;) {
      const page = await this.redis.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', 0, batch);
      if (page.length === 0) return { runs: out };
      const ids: { id: string; score: number }[] = [];
      for (let i = 0; i < page.length; i += 2) ids.push({ id: page[i]!, score: Number(page[i + 1]) });
      const pipe = this.redis.pipeline();
      for (const { id } of ids) pipe.hgetall(keys.run(this.prefix, id));
      const hashes = (await pipe.exec()) ?? [];
      const gone: string[] = [];
      for (let i = 0; i < ids.length; i++) {
        const { id, score } = ids[i]!;
        if (skipThrough !== undefined) {
          // Same-score items up to and including the cursor's id were on the previous page.
          if (id === skipThrough) skipThrough = undefined;
          continue;
        }
        const h = hashes[i]?.[1] as Record<string, string> | undefined;
        if (!h?.id) {
          gone.push(id);
          continue;
        }
        const run = decodeHash<RunRecord>(h, RUN_FIELDS);
        if (filter.status && run.status !== filter.status) continue;
        if (filter.workflow && run.workflow !== filter.workflow) continue;
        if (filter.agent && !run.agents.includes(filter.agent)) continue;
        out.push(run);
        if (out.length === filter.limit) {
          if (gone.length) await this.redis.zrem(index, ...gone);
          return { runs: out, next: { score, id } };
        }
      }
      if (gone.length) await this.redis.zrem(index, ...gone);
      if (page.length < batch * 2) return { runs: out };
      const last = ids[ids.length - 1]!;
      max = String(last.score);
      skipThrough = last.id;
    }
  }
}

/**
 * An entry of a run's event stream as a RunEvent, or undefined when it is not one (a reader
 * skips a bad entry rather than fail on it). `runId` fills in an entry that lacks one.
 */
export function parseEvent(id: string, fields: string[], runId?: string): RunEvent | undefined {
  let raw: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'e') raw = fields[i + 1];
  if (raw === undefined) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const result = RunEvent.safeParse({ ...(runId === undefined ? {} : { runId }), ...body, id });
  return result.success ? result.data : undefined;
}
