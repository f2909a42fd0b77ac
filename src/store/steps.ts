/**
 * Step state: a step's hash (its record and checkpoint) as the step machine moves it: begin,
 * transition, checkpoint, progress (and the live-only text deltas), complete, and the steps a running step adds to its run.
 * Every change is one script (scripts/), atomic with its event and its outbox entry.
 */
import { keys } from './keys.js';
import type { Scope, ScopedRun } from './scope.js';
import {
  STEP_FIELDS,
  parseJson,
  stepBegin,
  stepCheckpoint,
  stepComplete,
  stepDelta,
  stepProgress,
  stepTransition,
  stepsAdd,
  type RecordFields,
  type RunFinishedFacts,
  type StepBeginArgs,
  type StepBeginReply,
  type StepCompleteReply,
  type StepResult,
  type StepTransition,
  type StepTransitionReply,
  type StepsAddArgs,
  type StepsAddReply,
} from './scripts/index.js';
import { decodeFields, type StoreContext } from './store-context.js';
import type { RunStatus, StepRecord, StepStatus, Usage } from '../model/run.js';

/** Called once a step's write finished its run (a single-step run's result): see RunEndings. */
export type OnRunFinished = (scope: Scope, runId: string, status: RunStatus, facts?: RunFinishedFacts) => Promise<void>;

export class StepState {
  constructor(
    private readonly ctx: StoreContext,
    private readonly runFinished: OnRunFinished,
  ) {}

  /** Steps' records, in the order given (a step not there is left out). */
  async get(scope: Scope, runId: string, stepIds: readonly string[]): Promise<StepRecord[]> {
    return this.fields(scope, runId, stepIds, STEP_FIELDS);
  }

  /** Only these fields of steps' records (and `stepId`), e.g. without their inputs and outputs; a step not there is left out. */
  async fields<K extends keyof StepRecord>(
    scope: Scope,
    runId: string,
    stepIds: readonly string[],
    fields: readonly K[],
  ): Promise<Pick<StepRecord, K | 'stepId'>[]> {
    if (stepIds.length === 0) return [];
    const read = ['stepId', ...fields.filter((f) => f !== 'stepId')];
    const pipe = this.ctx.redis.pipeline();
    for (const id of stepIds) pipe.hmget(keys.step(scope, runId, id), ...read);
    const results = (await pipe.exec()) ?? [];
    return results.flatMap(([err, values]) => {
      if (err) throw err;
      const v = values as (string | null)[];
      return v[0] === null ? [] : [decodeFields<Pick<StepRecord, K | 'stepId'>>(v, read)];
    });
  }

  /** A step's status and whether it is optional, without the rest of its record (its output can be large). */
  async state(scope: Scope, runId: string, stepId: string): Promise<Pick<StepRecord, 'status' | 'optional'> | null> {
    const [status, optional] = await this.ctx.redis.hmget(keys.step(scope, runId, stepId), 'status', 'optional');
    if (status == null) return null;
    return { status: JSON.parse(status) as StepStatus, optional: parseJson<boolean | null>(optional) === true };
  }

  /** Why each of these steps (of any runs) is where it is (its `reason`; null: none, or no such step), in one round trip. */
  async reasons(steps: readonly (ScopedRun & { stepId: string })[]): Promise<(string | null)[]> {
    if (steps.length === 0) return [];
    const pipe = this.ctx.redis.pipeline();
    for (const s of steps) pipe.hget(keys.step(s.scope, s.runId, s.stepId), 'reason');
    const rows = (await pipe.exec()) ?? [];
    return rows.map(([err, v]) => (err || v == null ? null : parseJson<string | null>(v as string)));
  }

  /**
   * Read what a starting step needs in one round trip (run status and input, the step and its
   * checkpoint, the steps it reads) and, when `fast` and every dependency is usable, move it to
   * running in the same script (see scripts/lua/step-begin.lua).
   */
  begin(scope: Scope, runId: string, stepId: string, opts: Omit<StepBeginArgs, 'scope' | 'runId' | 'stepId' | 'outbox'>): Promise<StepBeginReply> {
    return stepBegin(this.ctx.redis, { scope, runId, stepId, outbox: this.ctx.outbox, ...opts });
  }

  /** Apply a status change if the step is in one of `from`. */
  transition(scope: Scope, runId: string, stepId: string, t: StepTransition): Promise<StepTransitionReply> {
    return stepTransition(this.ctx.redis, { scope, runId, stepId, outbox: this.ctx.outbox, ...t });
  }

  /**
   * Record a step's result (see scripts/lua/step-complete.lua: a late answer is kept, never
   * dropped); with `finishRun` (the step is its run's only job), finish the run in the same write.
   */
  async complete(scope: Scope, runId: string, stepId: string, result: StepResult, opts: { finishRun?: boolean } = {}): Promise<StepCompleteReply> {
    const where = { scope, runId, stepId, outbox: this.ctx.outbox, finishRun: opts.finishRun ?? false, retentionSeconds: this.ctx.retentionSeconds };
    const reply = await stepComplete(this.ctx.redis, where, result);
    if (reply.finished) await this.runFinished(scope, runId, reply.finished, reply.facts);
    return reply;
  }

  /**
   * While the step runs `attempt`: save its checkpoint (undefined keeps it) and `fields` of its
   * record; false when it no longer runs it. `usage` (what the delivery paid for since it last
   * recorded) is added to its usage either way (and to its run's once the run has finished);
   * `fields` are set too on a step that ended (cancelled) while `attempt` ran it.
   * `writeId`: see StepTransition.writeId.
   */
  checkpoint(
    scope: Scope,
    runId: string,
    stepId: string,
    attempt: number,
    checkpoint: unknown,
    usage?: Usage | null,
    writeId?: string,
    fields?: RecordFields,
  ): Promise<boolean> {
    return stepCheckpoint(this.ctx.redis, {
      scope,
      runId,
      stepId,
      attempt,
      checkpoint,
      usage,
      outbox: this.ctx.outbox,
      ...(writeId ? { writeId } : {}),
      ...(fields ? { fields } : {}),
    });
  }

  /** Add steps to a run on behalf of a running step (existing ones are left alone). */
  add(scope: Scope, runId: string, a: Omit<StepsAddArgs, 'scope' | 'runId'>): Promise<StepsAddReply> {
    return stepsAdd(this.ctx.redis, { scope, runId, ...a });
  }

  /**
   * Append a `step.progress` event `{attempt, ...data}` if the step is running that attempt:
   * a report arriving after the step ended, or from an earlier attempt, is dropped.
   */
  progress(scope: Scope, runId: string, stepId: string, attempt: number, data: Record<string, unknown>): Promise<boolean> {
    return stepProgress(this.ctx.redis, { scope, runId, stepId, attempt, data });
  }

  /**
   * Publish a `step.delta {attempt, text}` to the run's live viewers if the step is running
   * that attempt. Live only: never in the event log (nor, so, in the archive).
   */
  delta(scope: Scope, runId: string, stepId: string, attempt: number, text: string): Promise<boolean> {
    return stepDelta(this.ctx.redis, { scope, runId, stepId, attempt, text });
  }
}
