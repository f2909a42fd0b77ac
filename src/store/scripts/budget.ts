import type { Redis } from 'ioredis';
import { parseRunBudgetWarning, type RunBudgetWarning } from '../../model/budget.js';
import { envelopeName, type EnvelopeOwner } from '../../model/envelope.js';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { Script } from './script.js';

const reserve = new Script('budget-reserve', 'any');
const settle = new Script('budget-settle', 'any');

/** Which attempt of which step a call belongs to: what it holds is released with that attempt or step. */
export interface HoldOwner {
  stepId: string;
  attempt: number;
}

/** The spend envelopes a call reserves against: its workspace's, and the submitting key's (model/envelope.ts). */
export interface EnvelopeAsk {
  /** The UTC day counted in (YYYY-MM-DD). */
  day: string;
  /** When that day ends (ISO), for messages. */
  resetsAt: string;
  /** The API key that submitted the run (none: the workspace's envelope only). */
  keyId?: string | undefined;
}

/**
 * One call's reservation: its estimate, the attempt it belongs to, and its lease (an id, and
 * how long it lives if its call never settles: its step's timeout and a margin); `envelopes`
 * when its run is held by its workspace's and key's envelopes, and `held` (set once reserved):
 * the key ids of those it holds (undefined: the workspace's).
 */
export interface BudgetReservation {
  tokens: number;
  costUsd: number;
  owner: HoldOwner;
  lease: string;
  leaseMs: number;
  envelopes?: EnvelopeAsk | undefined;
  held?: (string | undefined)[] | undefined;
}

/** A budget.warning an envelope gave as a call was settled (80% of a daily limit reached, once a day). */
export interface EnvelopeWarning {
  /** The envelope's workspace (the run's: a key's envelope is in its key's workspace). */
  workspace: string;
  /** `workspace acme`, `key k1 of workspace acme`. */
  envelope: string;
  day: string;
  maxTokensPerDay?: number;
  maxCostUsdPerDay?: number;
  spent: number;
}

/** What settling a call gave: why the run's budget is now exceeded (or ''), and the warnings it reached. */
export interface BudgetSettled {
  exceeded: string;
  /** The run budget's own 80% warning (once per run). */
  runWarning?: RunBudgetWarning;
  /** The envelopes' 80% warnings (once per envelope and day). */
  warnings: EnvelopeWarning[];
}

const envelopeKeys = (scope: Scope, day: string, keyId: string | undefined) => [
  keys.envelope(scope, keyId),
  keys.envelopeDay(scope, keyId, day),
  keys.envelopeLeases(scope, keyId, day),
];
const nameOf = (scope: Scope, keyId: string | undefined) => envelopeName({ workspace: scope.workspace, keyId } satisfies EnvelopeOwner);

/**
 * Reserve a call's estimate against the run's budget and its envelopes; returns why it is
 * refused (`wait ...`: for the calls in flight), or '' when reserved (or nothing limits it), and
 * the envelopes held.
 */
export async function budgetReserve(
  redis: Redis,
  scope: Scope,
  runId: string,
  r: BudgetReservation,
): Promise<{ refused: string; held: (string | undefined)[] }> {
  const owners = r.envelopes ? [undefined, ...(r.envelopes.keyId ? [r.envelopes.keyId] : [])] : [];
  const day = r.envelopes?.day ?? '';
  const args = [
    r.tokens,
    r.costUsd,
    r.owner.attempt,
    r.owner.stepId,
    r.lease,
    Math.max(1, Math.round(r.leaseMs)),
    r.envelopes?.resetsAt ?? '',
    ...owners.map((k) => nameOf(scope, k)),
  ];
  const [refused, ...held] = (await reserve.run(
    redis,
    [keys.run(scope, runId), keys.runHolds(scope, runId), ...owners.flatMap((k) => envelopeKeys(scope, day, k))],
    args,
  )) as [string, ...number[]];
  return { refused, held: held.map((i) => owners[i - 1]) };
}

/**
 * Release a reservation (unless it was released already) and count what the call used, by the
 * run's budget and by the envelopes it held; returns why the run's budget is now exceeded (or
 * ''), the run budget's own warning when this call reached 80% of a limit (once per run), and
 * the envelopes' warnings (each also a budget.warning event of the run).
 */
export async function budgetSettle(
  redis: Redis,
  scope: Scope,
  runId: string,
  r: BudgetReservation,
  used: { tokens: number; costUsd: number },
): Promise<BudgetSettled> {
  const held = r.held ?? [];
  const day = r.envelopes?.day ?? '';
  const args = [
    r.tokens,
    r.costUsd,
    used.tokens,
    used.costUsd,
    new Date().toISOString(),
    r.owner.attempt,
    r.owner.stepId,
    r.lease,
    day,
    ...held.map((k) => nameOf(scope, k)),
  ];
  const [exceeded, runWarning, ...warnings] = (await settle.run(
    redis,
    [keys.run(scope, runId), keys.events(scope, runId), keys.runHolds(scope, runId), ...held.flatMap((k) => envelopeKeys(scope, day, k))],
    args,
  )) as [string, string, ...string[]];
  const run = parseRunBudgetWarning(runWarning);
  return {
    exceeded,
    ...(run ? { runWarning: run } : {}),
    warnings: warnings.map((w) => ({ ...(JSON.parse(w) as Omit<EnvelopeWarning, 'workspace'>), workspace: scope.workspace })),
  };
}
