import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { RunRecord } from '../types.js';
import { json, Script } from './script.js';
import { stepPlan, type NewStep } from './step-plan.js';

const script = new Script('create-run', 8);

export interface CreateRunArgs {
  prefix: string;
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

/** Write a new run (record, steps, refs, index entry, `run.queued`) in one step. */
export async function createRun(redis: Redis, a: CreateRunArgs): Promise<{ steps: number }> {
  const { prefix, run } = a;
  const fields = Object.entries({ ...run, outputSteps: a.outputSteps, definitionId: a.definition?.id ?? null }).flatMap(([k, v]) => [k, json(v)]);
  try {
    const n = (await script.run(
      redis,
      [
        keys.run(prefix, run.id),
        keys.runSteps(prefix, run.id),
        keys.runRefs(prefix, run.id),
        keys.events(prefix, run.id),
        keys.runIndex(prefix, run.workspaceId),
        keys.outbox(prefix),
        keys.queuedRuns(prefix),
        keys.definition(prefix, a.definition?.id ?? ''),
      ],
      [
        keys.stepPrefix(prefix, run.id),
        JSON.stringify(fields),
        stepPlan(a.steps),
        JSON.stringify(a.refIds),
        run.createdAt,
        Date.parse(run.createdAt),
        json({ workflow: run.workflow }),
        a.outbox ? '1' : '0',
        a.definition?.text ?? '',
        a.definition?.id ?? '',
        a.retentionSeconds,
      ],
    )) as number;
    return { steps: n };
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('NODEF')) throw new DefinitionNotStoredError(err.message);
    throw err;
  }
}
