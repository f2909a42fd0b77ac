import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { RunRecord } from '../types.js';
import { json, Script } from './script.js';
import { stepPlan, type NewStep } from './step-plan.js';

const script = new Script('create-run', 7);

export interface CreateRunArgs {
  prefix: string;
  run: RunRecord;
  /** Steps whose outputs form the run output. */
  outputSteps: readonly string[];
  /** The compiled workflow the run executes (kept with it). */
  definition: unknown;
  /** The steps of the definition, in topological order. */
  steps: readonly NewStep[];
  refIds: readonly string[];
  outbox: boolean;
}

/** Write a new run (record, steps, refs, index entry, `run.queued`) in one step. */
export async function createRun(redis: Redis, a: CreateRunArgs): Promise<{ steps: number }> {
  const { prefix, run } = a;
  const fields = Object.entries({ ...run, outputSteps: a.outputSteps, definition: a.definition }).flatMap(([k, v]) => [k, json(v)]);
  const definition = a.outbox ? json(a.definition) : '';
  const n = (await script.run(
    redis,
    [keys.run(prefix, run.id), keys.runSteps(prefix, run.id), keys.runRefs(prefix, run.id), keys.events(prefix, run.id), keys.runIndex(prefix, run.workspaceId), keys.outbox(prefix), keys.queuedRuns(prefix)],
    [keys.stepPrefix(prefix, run.id), JSON.stringify(fields), stepPlan(a.steps), JSON.stringify(a.refIds), run.createdAt, Date.parse(run.createdAt), json({ workflow: run.workflow }), a.outbox ? '1' : '0', definition],
  )) as number;
  return { steps: n };
}
