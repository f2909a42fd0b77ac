import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import type { RunRecord } from '../../model/run.js';
import { ConflictError, toError } from '../../errors/index.js';
import { json, Script } from './script.js';
import { stepPlan, type NewStep } from './step-plan.js';

const script = new Script('create-run', 10);
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
  outbox: boolean;
  retentionSeconds: number;
}

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
export async function createRun(redis: Redis, a: CreateRunArgs): Promise<{ steps: number }> {
  const parts = a.steps.length > CREATE_IN_SCRIPT ? Math.ceil(a.steps.length / CREATE_IN_SCRIPT) : 1;
  const { keys: k, args } = createRunCall(parts > 1 ? { ...a, steps: a.steps.slice(0, CREATE_IN_SCRIPT) } : a);
  let written: number;
  try {
    written = (await script.run(redis, k, args)) as number;
  } catch (err) {
    throw asDefinitionError(err);
  }
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
  return { steps: written };
}

/**
 * Write a new run, then at once its job (`addJob`, which must send its command on `redis`):
 * one round trip. Redis runs one connection's commands in the order they were sent, so the
 * job exists only after its run does. If the run's write fails, the job may be written all
 * the same: the caller removes it (harmless meanwhile: a job whose run does not exist ends at
 * once, calling nothing).
 */
export async function createRunThen<T>(
  redis: Redis,
  a: CreateRunArgs,
  addJob: () => Promise<T>,
): Promise<{ created: Error | undefined; job: PromiseSettledResult<T> }> {
  const { keys: k, args } = createRunCall(a);
  const created = script.run(redis, k, args);
  const job = addJob();
  const [c, j] = await Promise.allSettled([created, job]);
  return { created: c.status === 'rejected' ? asDefinitionError(toError(c.reason)) : undefined, job: j };
}

function asDefinitionError<T>(err: T): T | DefinitionNotStoredError {
  return err instanceof Error && err.message.startsWith('NODEF') ? new DefinitionNotStoredError(err.message) : err;
}

function createRunCall(a: CreateRunArgs): { keys: string[]; args: (string | number)[] } {
  const { scope, run } = a;
  const fields = Object.entries({ ...run, outputSteps: a.outputSteps, definitionId: a.definition?.id ?? null }).flatMap(([k, v]) => [k, json(v)]);
  return {
    keys: [
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
    ],
    args: [
      keys.stepPrefix(scope, run.id),
      run.id,
      stepPlan(a.steps),
      JSON.stringify(a.refIds),
      run.createdAt,
      Date.parse(run.createdAt),
      json({ workflow: run.workflow }),
      a.outbox ? '1' : '0',
      a.definition?.text ?? '',
      a.definition?.id ?? '',
      a.retentionSeconds,
      ...fields,
    ],
  };
}
