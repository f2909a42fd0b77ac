import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import type { RunRecord } from '../../model/run.js';
import { ConflictError } from '../../errors/index.js';
import { json, Script } from './script.js';
import { stepPlan, type NewStep } from './step-plan.js';
import { FAIR_STATE_TTL_S } from './fair-turns.js';

const script = new Script('create-run', 'any');
const appendScript = new Script('steps-append', 2);

export interface CreateRunArgs {
  scope: Scope;
  run: RunRecord;
  /** Steps whose outputs form the run output. */
  outputSteps: readonly string[];
  /**
   * The compiled workflow the run executes, stored once per content (`id`) for all its runs;
   * `text` is omitted when the caller believes it is stored (if it is not, NODEF is thrown).
   * None for a run whose definition follows from its record (an agent task).
   */
  definition?: { id: string; text?: string };
  /** The steps of the definition, in topological order. */
  steps: readonly NewStep[];
  refIds: readonly string[];
  /** `run.createdAt` in epoch ms, when the caller has it (else it is parsed). */
  createdAtMs?: number | undefined;
  outbox: boolean;
  retentionSeconds: number;
  /** What the script checks and takes before it writes: the spend envelopes, the fair turns. */
  admission?: Admission | undefined;
}

/** What a new run is admitted by, in its create-run script, before anything is written. */
export interface Admission {
  /** The envelopes that may hold it: the workspace's (no key id), and its key's. */
  envelopeOwners: readonly (string | undefined)[];
  /** Today (UTC, YYYY-MM-DD): the envelopes' day. */
  day: string;
  /** Every model the run may call has a price (a cost envelope refuses it otherwise). */
  priced: boolean;
  /** The jobs that take a fair turn, per agent queue (fair-priorities.ts). */
  fair: readonly FairRequest[];
}

/** New jobs of one agent queue that take their workspace's fair turns, in order. */
export interface FairRequest {
  queue: string;
  /** How many jobs may wait plain while nothing is prioritized (the pool's width). */
  share: number;
  jobIds: readonly string[];
}

/** An envelope as the script read it: its owner, its JSON text, what it spent today (as stored). */
export interface EnvelopeRead {
  keyId: string | undefined;
  text: string;
  spentTokens: string;
  spentCostUsd: string;
}

export type CreateRunReply =
  /** An envelope refused the run: nothing was written. */
  | { refused: EnvelopeRead[] }
  /** Written: `hold`, an envelope holds it; `turns`, per fair request, its jobs' priorities (0: the plain wait list). */
  | { refused?: undefined; steps: number; hold: boolean; turns: number[][] };

/** The definition was not stored (expired, or never written): call again with its text. */
export class DefinitionNotStoredError extends Error {}

/**
 * A run of more steps than this is written in parts: the run with its first steps, then the
 * others, each part a short script (one that wrote 10,000 steps would hold Redis for tens of
 * milliseconds). Its jobs are added after the last part, so no step runs before it is written.
 */
export const CREATE_IN_SCRIPT = 100;

/**
 * Write a new run (record, steps, refs, index entry, `run.queued`) in one step, or for a large
 * run in parts (CREATE_IN_SCRIPT): a reader may see its step list grow while it is written, and
 * a process lost in between leaves the run `queued` without jobs, which the sweeper ends.
 */
export async function createRun(redis: Redis, a: CreateRunArgs): Promise<CreateRunReply> {
  const parts = a.steps.length > CREATE_IN_SCRIPT ? Math.ceil(a.steps.length / CREATE_IN_SCRIPT) : 1;
  const { keys: k, args } = createRunCall(parts > 1 ? { ...a, steps: a.steps.slice(0, CREATE_IN_SCRIPT) } : a);
  let reply: (string | number)[];
  try {
    reply = (await script.run(redis, k, args)) as (string | number)[];
  } catch (err) {
    throw err instanceof Error && err.message.startsWith('NODEF') ? new DefinitionNotStoredError(err.message) : err;
  }
  if (reply[0] === 'refused') return { refused: envelopesRead(a.admission, reply.slice(1)) };
  let written = Number(reply[0]);
  for (let i = 1; i < parts; i++) {
    const part = a.steps.slice(i * CREATE_IN_SCRIPT, (i + 1) * CREATE_IN_SCRIPT);
    try {
      written += (await appendScript.run(
        redis,
        [keys.run(a.scope, a.run.id), keys.runSteps(a.scope, a.run.id)],
        [keys.stepPrefix(a.scope, a.run.id), a.run.id, stepPlan(part), a.run.createdAt],
      )) as number;
    } catch (err) {
      // Cancelled while it was being written: no more of it, and none of its jobs.
      if (err instanceof Error && err.message.startsWith('ENDED'))
        throw new ConflictError(`run "${a.run.id}" ended while it was being written (${err.message.slice(6)})`);
      throw err;
    }
  }
  return { steps: written, hold: reply[1] === 1, turns: turnsOf(a.admission, reply.slice(2) as number[]) };
}

function envelopesRead(admission: Admission | undefined, read: (string | number)[]): EnvelopeRead[] {
  const out: EnvelopeRead[] = [];
  for (let i = 0; i + 3 < read.length; i += 4) {
    out.push({
      keyId: admission?.envelopeOwners[Number(read[i]) - 1],
      text: String(read[i + 1]),
      spentTokens: String(read[i + 2]),
      spentCostUsd: String(read[i + 3]),
    });
  }
  return out;
}

function turnsOf(admission: Admission | undefined, flat: number[]): number[][] {
  let at = 0;
  return (admission?.fair ?? []).map((f) => {
    const turns = flat.slice(at, at + f.jobIds.length).map(Number);
    at += f.jobIds.length;
    return turns;
  });
}

function createRunCall(a: CreateRunArgs): { keys: string[]; args: (string | number)[] } {
  const { scope, run } = a;
  const owners = a.admission?.envelopeOwners ?? [];
  const fair = (a.admission?.fair ?? []).filter((f) => f.jobIds.length > 0);
  const k = [
    keys.run(scope, run.id),
    keys.runSteps(scope, run.id),
    keys.runRefs(scope, run.id),
    keys.events(scope, run.id),
    keys.runIndex(scope),
    keys.outbox(scope),
    keys.queuedRuns(scope),
    keys.definition(scope, a.definition?.id ?? ''),
    keys.workflowRunIndex(scope, run.workflow),
    keys.workflowIndexSince(scope),
    keys.webhooksFinished(scope),
    keys.finishNotices(scope),
  ];
  for (const owner of owners) k.push(keys.envelope(scope, owner), keys.envelopeDay(scope, owner, a.admission!.day));
  for (const f of fair) {
    const base = keys.bullQueueBase(scope, f.queue);
    k.push(keys.fairTurns(scope, f.queue), `${base}prioritized`, `${base}wait`);
  }
  const args: (string | number)[] = [
    keys.stepPrefix(scope, run.id),
    run.id,
    stepPlan(a.steps),
    JSON.stringify(a.refIds),
    run.createdAt,
    a.createdAtMs ?? Date.parse(run.createdAt),
    json({ workflow: run.workflow }),
    a.outbox ? '1' : '0',
    a.definition?.text ?? '',
    a.definition?.id ?? '',
    a.retentionSeconds,
    owners.length,
    a.admission?.priced === false ? '0' : '1',
    fair.length,
    scope.workspace,
    FAIR_STATE_TTL_S,
    run.scheduleId ?? '',
  ];
  for (const f of fair) {
    args.push(Math.max(1, f.share), keys.bullQueueBase(scope, f.queue), f.jobIds.length);
    for (const id of f.jobIds) args.push(id);
  }
  pushRecordFields(args, run, a.outputSteps, a.definition?.id);
  return { keys: k, args };
}

/**
 * The run record's fields as `name, JSON` pairs appended to `args`, then `outputSteps` and
 * `definitionId`. A field that is null is not written: a reader takes a missing field as null
 * (decodeFields, and docFrom in Lua), and a run's hash stays small for every script that reads it.
 */
function pushRecordFields(args: (string | number)[], run: RunRecord, outputSteps: readonly string[], definitionId: string | undefined): void {
  for (const name of Object.keys(run) as (keyof RunRecord)[]) {
    const v = run[name];
    if (v !== null && v !== undefined) args.push(name, json(v));
  }
  args.push('outputSteps', json(outputSteps));
  if (definitionId !== undefined) args.push('definitionId', json(definitionId));
}
