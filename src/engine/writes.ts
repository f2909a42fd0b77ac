/**
 * The durable writes of a delivery, through `src/store`: each carries what the delivery's calls
 * cost and what it keeps to debug them since its last write, and an id, so a write Redis applied
 * but whose reply was lost is not applied twice when it is tried again.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { RetryableError, StaleAttemptError, toError } from '../errors/index.js';
import { isTransientWriteError } from '../store/reachable.js';
import type { StepCompleteReply, StepResult, StepTransition, StepTransitionReply } from '../store/scripts/index.js';
import type { Delivery } from './delivery.js';
import { PUBLISH_CONTEXT_TOOL } from '../model/tool.js';
import { contextPublish } from './publish.js';
import type { Succeeded } from './settle.js';

/**
 * A write that records what this delivery did (and paid for), tried again on Redis errors
 * that may pass (isTransientWriteError) with one id, so that a try Redis applied but whose
 * reply was lost is not applied twice (`write` is given the id and the try, from 1). After
 * `recordRetry.tries` the job fails (RetryableError) and BullMQ delivers it again.
 */
export async function durably<T>(d: Delivery, what: string, write: (writeId: string, tryNumber: number) => Promise<T>): Promise<T> {
  const writeId = randomUUID();
  for (let i = 1; ; i++) {
    try {
      return await write(writeId, i);
    } catch (err) {
      const error = toError(err);
      // A script error or a value Redis cannot take fails the same way every time.
      if (!isTransientWriteError(error)) throw error;
      if (i >= d.recordRetry.tries) {
        d.log().error({ err: error.message, tries: i }, `could not record ${what}; the job fails and is retried`);
        throw new RetryableError(`could not record ${what} of step "${d.step.id}": ${error.message}`);
      }
      d.log().warn({ err: error.message, try: i }, `could not record ${what}; trying again`);
      await sleep(d.recordRetry.firstDelayMs * 2 ** (i - 1));
    }
  }
}

/** A change of the step's status by this delivery, with what its calls cost since its last write. */
export function transition(d: Delivery, t: Omit<StepTransition, 'usage' | 'writeId'>): Promise<StepTransitionReply> {
  const [usage, traced] = [d.meter.take(), d.trace.take()];
  return durably(d, `its ${t.to} status`, (writeId) =>
    d.deps.store.steps.transition(d.scope, d.runId, d.step.id, { ...t, fields: { ...t.fields, ...traced }, usage, writeId }),
  );
}

/**
 * What this delivery's calls cost and no write has recorded yet, kept on the step (and its
 * run, once finished) when the delivery ends without another write of its own.
 */
export async function keepPaid(d: Delivery): Promise<void> {
  const [paid, traced] = [d.meter.take(), d.trace.take()];
  if (paid || Object.keys(traced).length)
    await durably(d, 'what it paid for', (writeId) => d.deps.store.steps.checkpoint(d.scope, d.runId, d.step.id, d.attempt, undefined, paid, writeId, traced));
}

/** Save the step's checkpoint (while it runs this delivery's attempt), with what its calls cost. */
export async function saveCheckpoint(d: Delivery, cp: unknown): Promise<void> {
  const [paid, traced] = [d.meter.take(), d.trace.take()];
  const saved = await durably(d, 'the checkpoint', (writeId) =>
    d.deps.store.steps.checkpoint(d.scope, d.runId, d.step.id, d.attempt, cp, paid, writeId, traced),
  );
  if (!saved) throw new StaleAttemptError(`step "${d.step.id}" is no longer running attempt ${d.attempt}; its checkpoint was not saved`);
  d.checkpoint = cp;
}

/** waiting → running: the steps it added have all finished. */
export function resume(d: Delivery): Promise<StepTransitionReply> {
  return d.deps.store.steps.transition(d.scope, d.runId, d.step.id, {
    from: ['waiting'],
    to: 'running',
    fields: { reason: null },
    event: { type: 'step.resumed' },
  });
}

/** This worker's attempt was taken over (`res`: the step's state in force). */
export function staleAttempt(d: Delivery, res: { attempts: number }): StaleAttemptError {
  return new StaleAttemptError(`step "${d.step.id}" is on attempt ${res.attempts} now; this worker ran attempt ${d.attempt}`);
}

/** Write the result, retrying on Redis errors: the job must not complete before it is stored. */
export async function recordResult(d: Delivery, outcome: Succeeded): Promise<StepCompleteReply> {
  const { step, deps, scope, runId, standalone } = d;
  // Its answer came from the response cache: no call of this write's reached a provider.
  const cached = d.meter.allCached();
  const usage = d.meter.take();
  const published = step.toContext
    ? contextPublish(step, outcome.output, d.agents ? (a) => d.agents!.authorityOf(a) : deps.authorityOf, await contextDrafts(d))
    : undefined;
  // The result's own input is the one recorded (the trace's is left out).
  const fields = d.trace.take({ input: outcome.input ?? null, output: outcome.output }, false);
  if (cached) fields.cached = cached;
  // One object, sent as it is by every try of the write (with the same id).
  const result: StepResult = { output: outcome.output, input: outcome.input ?? null, usage, model: outcome.model ?? null };
  if (outcome.event) result.event = outcome.event;
  if (outcome.reusedFrom) result.reusedFrom = outcome.reusedFrom;
  // A publish that names nothing writes nothing (no event).
  if (published?.entries.length) result.publish = published;
  if (Object.keys(fields).length) result.fields = fields;
  result.callsCounted = d.job.data.budgeted === true;
  const reply = await durably(d, 'the result', async (writeId): Promise<StepCompleteReply> => {
    result.writeId = writeId;
    const res = await deps.store.steps.complete(scope, runId, step.id, result, { finishRun: standalone });
    return standalone && res.status === 'missing' ? ((await finishedByThisWrite(d)) ?? res) : res;
  });
  // `missing`: its run finished (and was compacted) or expired meanwhile: nowhere to keep it.
  if (!reply.recorded && reply.status === 'missing')
    d.log().warn({ attempt: d.attempt, usage }, 'an answer came for a run that no longer holds its steps; its usage is not recorded');
  else if (!reply.recorded) d.log().debug({ status: reply.status }, 'result kept as a late answer: the step had already ended');
  return reply;
}

/**
 * A standalone step's result write finishes its run and compacts it (the step's key goes), so a
 * write applied whose reply was lost finds no step when it is sent again: tried again here
 * (durably), or sent again by ioredis itself on the same call once its connection is back (the
 * engine's connections re-send what got no reply). The run says whether it was: its step
 * succeeded on this delivery's attempt (a later attempt that took the step over has a higher
 * one). Then the reply that never came is made good: what the finish tells this process
 * (store/endings.ts `finished`: holds released, run.finished queued; each is idempotent) is done
 * now, as the lost reply would have done it. Undefined when the run does not hold this attempt's result.
 */
async function finishedByThisWrite(d: Delivery): Promise<StepCompleteReply | undefined> {
  const { deps, scope, runId, step } = d;
  const state = await deps.store.records.get(scope, runId);
  const held = state?.steps.find((s) => s.stepId === step.id);
  if (!state || held?.status !== 'succeeded' || held.attempts !== d.attempt) return undefined;
  await deps.store.endings.finished(scope, runId, state.run.status);
  return { recorded: true, status: 'succeeded', finished: state.run.status };
}

/** What the step's publish_context calls gave (read only when its agent has the tool: one read then). */
async function contextDrafts(d: Delivery): Promise<Record<string, unknown>> {
  const agent = d.step.agent ? d.agents?.get(d.step.agent) : undefined;
  if (!agent?.tools.includes(PUBLISH_CONTEXT_TOOL)) return {};
  return durably(d, 'reading its context values', () => d.deps.store.drafts.get(d.scope, d.runId, d.step.id));
}
