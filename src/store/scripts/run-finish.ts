import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import type { RunStatus, StepStatus } from '../../model/run.js';
import { json, Script } from './script.js';

const script = new Script('run-finish', 9);

export interface RunFinishArgs {
  scope: Scope;
  runId: string;
  /** A final status (cancel, failure), or `auto`: settle from the steps (every step's job is done). */
  status: Exclude<RunStatus, 'queued' | 'running' | 'waiting'> | 'auto';
  output?: unknown;
  error?: string | null;
  /** Given to steps that had not finished (they end `cancelled`). */
  reason: string;
  outbox: boolean;
  retentionSeconds: number;
  /** With `auto`: the steps as the caller read them and gave them their TTL (a run too large to settle in one script). */
  settled?: SettledSteps;
}

/** What a run's finish needs of its steps, when every one of them has ended. */
export interface SettledSteps {
  /** JSON list of the failed steps (`{stepId, kind, agent, error}`). */
  failed: string;
  nFailed: number;
  /** JSON list of the skipped steps' ids. */
  skipped: string;
  /** JSON usage: the steps' summed. */
  usage: string;
  /** The first step that failed and was not optional. */
  requiredFailed?: string;
}

export type RunFinishReply =
  | {
      applied: true;
      status: RunStatus;
      cancelledSteps: { stepId: string; was: StepStatus; agent: string | null }[];
      /** Every ref job id of the run (a compacted run no longer keeps them). */
      refIds: string[];
      facts: RunFinishedFacts;
    }
  | { applied: false; status: RunStatus | 'missing' };

/** What the write that finished a run read for what follows it (lua/includes/afterFinish.lua), so that none of it is a read of its own. */
export interface RunFinishedFacts {
  /** The run's provider calls held something (keys.runHolds): release them. */
  holds: boolean;
  /** A webhook may want its run.finished: the run is marked as awaiting the notice, or its workspace has subscriptions. */
  notice: boolean;
}

/** The facts as a script returned them (1/0 each); unknown (both true: read them) when it did not. */
export const finishedFacts = (holds: number | undefined, notice: number | undefined): RunFinishedFacts => ({
  holds: holds !== 0,
  notice: notice !== 0,
});

export async function runFinish(redis: Redis, a: RunFinishArgs): Promise<RunFinishReply> {
  const [applied, status, cancelled = [], refIds = [], holds, notice] = (await script.run(
    redis,
    [
      keys.run(a.scope, a.runId),
      keys.runSteps(a.scope, a.runId),
      keys.runRefs(a.scope, a.runId),
      keys.events(a.scope, a.runId),
      keys.outbox(a.scope),
      keys.queuedRuns(a.scope),
      keys.runHolds(a.scope, a.runId),
      keys.finishNotices(a.scope),
      keys.webhooksFinished(a.scope),
    ],
    [
      a.status,
      json(a.output),
      json(a.error),
      new Date().toISOString(),
      a.outbox ? '1' : '0',
      a.retentionSeconds,
      json(a.reason),
      keys.stepPrefix(a.scope, a.runId),
      keys.definitionPrefix(a.scope),
      ...(a.settled ? [a.settled.failed, a.settled.skipped, a.settled.usage, a.settled.nFailed, a.settled.requiredFailed ?? ''] : ['']),
    ],
  )) as [number, string, string[]?, string[]?, number?, number?];
  if (applied !== 1) return { applied: false, status: status as RunStatus | 'missing' };
  const cancelledSteps: { stepId: string; was: StepStatus; agent: string | null }[] = [];
  for (let i = 0; i + 2 < cancelled.length; i += 3)
    cancelledSteps.push({ stepId: cancelled[i]!, was: cancelled[i + 1] as StepStatus, agent: cancelled[i + 2] || null });
  return { applied: true, status: status as RunStatus, cancelledSteps, refIds, facts: finishedFacts(holds, notice) };
}

const settleScript = new Script('steps-settle', 1);

/** One part of a large run's settlement (lua/steps-settle.lua): steps `from` to `to` of its list; undefined at a step that has not ended. */
export async function stepsSettle(
  redis: Redis,
  a: { scope: Scope; runId: string; retentionSeconds: number; from: number; to: number },
): Promise<
  | {
      failed: string;
      nFailed: number;
      skipped: string;
      inputTokens: number;
      outputTokens: number;
      costUsd?: number;
      requiredFailed?: string;
      /** The cache counts of the steps' usage, summed (usageJson.lua's USAGE_EXTRA). */
      cacheCounts: Record<string, number>;
    }
  | undefined
> {
  const r = (await settleScript.run(redis, [keys.runSteps(a.scope, a.runId)], [keys.stepPrefix(a.scope, a.runId), a.retentionSeconds, a.from, a.to])) as [
    number,
    string?,
    number?,
    string?,
    number?,
    number?,
    string?,
    string?,
    string?,
  ];
  if (r[0] !== 1) return undefined;
  const [, failed = '', nFailed = 0, skipped = '', inputTokens = 0, outputTokens = 0, cost = '', required = '', counts = '{}'] = r;
  return {
    failed,
    nFailed: Number(nFailed),
    skipped,
    inputTokens: Number(inputTokens),
    outputTokens: Number(outputTokens),
    ...(cost ? { costUsd: Number(cost) } : {}),
    ...(required ? { requiredFailed: required } : {}),
    // cjson writes an empty table as `{}`.
    cacheCounts: JSON.parse(counts) as Record<string, number>,
  };
}
