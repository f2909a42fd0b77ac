/**
 * Reading a finished run that run-finish compacted into its run hash (see keys.run): fields
 * `status`, `run` (its record with `outputSteps` and `definitionId`), `steps` and `events`,
 * each JSON, records leaving out their null fields (a run's `definitionId` too). The output of a run that settled by itself
 * is not stored twice: it is its output steps' output, as run-finish computes it for a live
 * run; a run ended by a caller (cancel, failure, an early stop) keeps the output it was given.
 */
import { RUN_FIELDS, STEP_FIELDS } from './scripts/index.js';
import { eventOf } from './events.js';
import type { RunEvent, RunRecord, StepRecord } from '../model/run.js';

/** The hash fields of a compacted run. */
export const COMPACTED_FIELDS = ['run', 'steps', 'events'] as const;

interface RunDoc {
  outputSteps?: string[];
  definitionId?: string | null;
  [field: string]: unknown;
}

/** A record whose fields left out (null ones) are null again. */
function filled<T>(doc: Record<string, unknown>, fields: readonly string[]): T {
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f] = doc[f] ?? null;
  return out as T;
}

export function compactedSteps(runId: string, stepsJson: string | null | undefined): StepRecord[] {
  if (!stepsJson) return [];
  return (JSON.parse(stepsJson) as Record<string, unknown>[]).map((s) => filled<StepRecord>({ ...s, runId }, STEP_FIELDS));
}

/** The run's output from its output steps: the single one's output, or an object by step id. */
export function outputOf(outputSteps: readonly string[], steps: readonly Pick<StepRecord, 'stepId' | 'output'>[]): unknown {
  const byId = new Map(steps.map((s) => [s.stepId, s.output]));
  if (outputSteps.length === 1) return byId.get(outputSteps[0]!) ?? null;
  return Object.fromEntries(outputSteps.map((id) => [id, byId.get(id) ?? null]));
}

/** The record of a compacted run; its output only when its steps are given. */
export function compactedRun(runJson: string, steps?: readonly StepRecord[]): { run: RunRecord; definitionId: string | null } {
  const { outputSteps = [], definitionId = null, ...doc } = JSON.parse(runJson) as RunDoc;
  const run = filled<RunRecord>(doc, RUN_FIELDS);
  // A run ended by a caller (cancel, failure, an early stop) keeps the output it was given.
  if (steps && !Object.hasOwn(doc, 'output')) run.output = outputOf(outputSteps, steps);
  return { run, definitionId };
}

/** Events of a compacted run after `after` (exclusive), at most `count`; `entries` counts bad ones too. */
export function compactedEvents(runId: string, eventsJson: string, after: number, count: number): { events: RunEvent[]; entries: number } {
  const page = (JSON.parse(eventsJson) as unknown[]).slice(after, after + count);
  return { events: page.flatMap((e, i) => eventOf(String(after + i + 1), e, runId) ?? []), entries: page.length };
}
