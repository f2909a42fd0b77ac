import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import { isoNow } from '../../model/time.js';
import type { Scope } from '../scope.js';
import { parseRunBudgetWarning, type RunBudgetWarning } from '../../model/budget.js';
import type { RunStatus, StepStatus, Usage } from '../../model/run.js';
import { finishedFacts, type RunFinishedFacts } from './run-finish.js';
import { json, Script } from './script.js';
import type { RecordFields } from './step-checkpoint.js';

// Four keys, or ten when the write finishes its run (the other six are read only then).
const script = new Script('step-complete', 'any');

export interface StepResult {
  output: unknown;
  /** The input the work received (rendered). */
  input: unknown;
  usage: Usage | null;
  model: string | null;
  /** Data of the `step.completed` event (beside usage and model). */
  event?: Record<string, unknown>;
  /** Replace the step's checkpoint in the same write. */
  checkpoint?: unknown;
  /** The run whose recorded output this is (a rerun reused it). */
  reusedFrom?: string;
  /** What it publishes into its run's shared context (when recorded as the step's result). */
  publish?: ContextPublish;
  /** Its provider calls counted their usage against the run's budget as they ended (then only the step is counted here). */
  callsCounted?: boolean;
  /** More fields of the step's record to set with it (what it keeps to debug its calls). */
  fields?: RecordFields;
  /**
   * This write's id, the same on each retry of it: a retry of a write that was applied (its
   * reply lost) gets the same reply and adds nothing twice.
   */
  writeId?: string;
}

/** Names and values a step publishes, and how it ranks against other writers of a name. */
export interface ContextPublish {
  entries: [name: string, value: unknown][];
  order: number;
  /** The writer's agent's authority (0 for a step without an agent). */
  authority: number;
  /** The run's rule is `conflict: authority`: authority ranks first (else only the order does). */
  byAuthority: boolean;
}

/** Where a result is written (the result itself is given as it is: see stepComplete). */
export interface StepCompleteArgs {
  scope: Scope;
  runId: string;
  stepId: string;
  outbox: boolean;
  /** The step is its run's only job: finish the run in the same write. */
  finishRun: boolean;
  retentionSeconds: number;
}

export interface StepCompleteReply {
  /** True when this was recorded as the step's result; false when the step had already finished (the answer is kept as a late one). */
  recorded: boolean;
  status: StepStatus | 'missing';
  /** With `finishRun`: the run's status when this write finished it. */
  finished?: RunStatus;
  /** Why the run's budget is exceeded with this answer counted (the run should halt). */
  budgetExceeded?: string;
  /** With `finished`: what the write that finished the run read for what follows (see RunFinishedFacts). */
  facts?: RunFinishedFacts;
  /** Counting this answer's usage reached 80% of a limit of the run's budget (once per run; a replayed write gives it again): for its webhooks. */
  budgetWarning?: RunBudgetWarning;
}

export async function stepComplete(redis: Redis, a: StepCompleteArgs, r: StepResult): Promise<StepCompleteReply> {
  const fields = r.fields ? Object.keys(r.fields) : [];
  const args: (string | number)[] = [
    isoNow(),
    a.outbox ? '1' : '0',
    json(r.output),
    json(r.usage),
    json(r.model),
    json(r.input),
    // The script puts the step's whole usage in front (what every delivery recorded).
    JSON.stringify(r.event ? { model: r.model, ...r.event } : { model: r.model }),
    r.checkpoint === undefined ? '' : json(r.checkpoint),
    a.finishRun ? '1' : '0',
    a.retentionSeconds,
    // The prefixes a finish needs: none for a write that does not finish its run.
    a.finishRun ? keys.stepPrefix(a.scope, a.runId) : '',
    a.finishRun ? keys.definitionPrefix(a.scope) : '',
    r.reusedFrom === undefined ? '' : json(r.reusedFrom),
    r.callsCounted ? '1' : '0',
    r.publish
      ? JSON.stringify({
          step: a.stepId,
          order: r.publish.order,
          authority: r.publish.authority,
          byAuthority: r.publish.byAuthority,
          keys: r.publish.entries.map(([k]) => k),
        })
      : '',
    r.writeId ?? '',
    fields.length,
  ];
  for (const k of fields) args.push(k, json(r.fields![k as keyof RecordFields]));
  if (r.publish) for (const [, v] of r.publish.entries) args.push(json(v));
  const keyList = [keys.step(a.scope, a.runId, a.stepId), keys.run(a.scope, a.runId), keys.events(a.scope, a.runId), keys.outbox(a.scope)];
  if (a.finishRun)
    keyList.push(
      keys.runSteps(a.scope, a.runId),
      keys.runRefs(a.scope, a.runId),
      keys.queuedRuns(a.scope),
      keys.runHolds(a.scope, a.runId),
      keys.finishNotices(a.scope),
      keys.webhooksFinished(a.scope),
    );
  const [recorded, status, finished, runStatus, over, holds, notice, warned] = (await script.run(redis, keyList, args)) as [
    number,
    StepStatus | 'missing',
    number?,
    string?,
    string?,
    number?,
    number?,
    string?,
  ];
  // Fields set one by one: no object made to be spread.
  const reply: StepCompleteReply = { recorded: recorded === 1, status };
  if (finished === 1) {
    reply.finished = runStatus as RunStatus;
    reply.facts = finishedFacts(holds, notice);
  }
  if (over) reply.budgetExceeded = over;
  const budgetWarning = parseRunBudgetWarning(warned);
  if (budgetWarning) reply.budgetWarning = budgetWarning;
  return reply;
}
