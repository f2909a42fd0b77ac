/**
 * Joins that end early: a step with `join: any` or `join: {quorum: k}`, and a vote with a
 * `quorum`. Each step such a join waits on carries a JoinWatch (`joinOf`); when it ends, the
 * step machine asks `settleJoins` to look at the join: once it is met (enough successes, or
 * enough answers that agree) or can no longer be, the members still live are cancelled: their
 * calls aborted in whichever process runs them, their queued jobs removed. Their jobs then end
 * at once, so the join's job (their parent in the flow) runs with what has been recorded.
 *
 * Looking is safe to repeat: two members ending at the same moment both look, after each has
 * recorded its own ending, so the later look sees both; cancelling a step already ended does
 * nothing. A look that fails (Redis) is only logged: the join is then met the slow way, when
 * every member has ended by itself.
 */
import type { Logger } from '../logger.js';
import type { RunControl } from './run-control.js';
import type { RunStore } from '../store/run-store.js';
import type { Scope } from '../store/scope.js';
import { isTerminalStep, type StepRecord } from '../model/run.js';
import type { JoinWatch } from '../kinds/definition.js';
import { toError } from '../errors/index.js';
import { maxAgreeing } from '../kinds/shared/agreement.js';

/** What a join looks at of a member: its output only when answers are compared. */
type Member = Pick<StepRecord, 'stepId' | 'status' | 'agent'> & { output?: unknown; finishedAt?: string | null };

export type JoinVerdict = { state: 'open' } | { state: 'met' | 'impossible'; reason: string; live: Member[] };

/** What a join's members say: still open, met, or impossible (and who is still live). */
export function joinVerdict(watch: JoinWatch, members: readonly Member[]): JoinVerdict {
  const byId = new Map(members.map((m) => [m.stepId, m]));
  // A member not recorded yet counts as live.
  const live = watch.members.flatMap((id): Member[] => {
    const m = byId.get(id);
    return m && isTerminalStep(m.status) ? [] : [m ?? { stepId: id, status: 'pending', agent: null }];
  });
  const inJoin = new Set(watch.members);
  // In the order they finished.
  const succeeded = members
    .filter((m) => m.status === 'succeeded' && inJoin.has(m.stepId))
    .sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? ''));
  const have = watch.agree
    ? maxAgreeing(
        succeeded.map((m) => (m.output as { answer?: unknown } | null)?.answer ?? null),
        watch.agree,
      )
    : succeeded.length;
  const what = watch.agree ? `${have} answer${have === 1 ? '' : 's'} agree` : `${have} of ${watch.members.length} succeeded`;
  if (have >= watch.need) {
    return {
      state: 'met',
      reason: watch.label === 'any' ? `join: any met by "${succeeded[0]!.stepId}"` : `quorum reached (${what}, ${watch.need} needed)`,
      live,
    };
  }
  if (have + live.length < watch.need)
    return { state: 'impossible', reason: `quorum can no longer be reached (${what}, ${live.length} still live, ${watch.need} needed)`, live };
  return { state: 'open' };
}

/** Look at each join `watches` names, and cancel the members it no longer needs. */
export async function settleJoins(
  deps: { store: Pick<RunStore, 'steps'>; control: RunControl },
  scope: Scope,
  runId: string,
  watches: readonly JoinWatch[],
  log: () => Logger,
): Promise<void> {
  for (const watch of watches) {
    try {
      const upstream = watch.upstream ?? {};
      // Statuses only; outputs too when answers are compared (a vote's quorum).
      const fields = watch.agree ? (['status', 'agent', 'finishedAt', 'output'] as const) : (['status', 'agent', 'finishedAt'] as const);
      const records: Member[] = await deps.store.steps.fields(scope, runId, [...watch.members, ...new Set(Object.values(upstream).flat())], fields);
      const verdict = joinVerdict(watch, records);
      if (verdict.state === 'open' || verdict.live.length === 0) continue;
      // A live member's own upstream steps that feed nothing else go with it.
      const byId = new Map(records.map((r) => [r.stepId, r]));
      const feeding = verdict.live.flatMap((m) =>
        (upstream[m.stepId] ?? []).flatMap((id) => {
          const r = byId.get(id);
          return r && !isTerminalStep(r.status) ? [r] : [];
        }),
      );
      const cancelled = await deps.control.cancelSteps(scope, runId, [...verdict.live, ...feeding], verdict.reason);
      if (cancelled.length)
        log().info({ join: watch.step, cancelled, reason: verdict.reason }, 'join settled early; the steps it no longer needs are cancelled');
    } catch (err) {
      log().warn({ join: watch.step, err: toError(err).message }, 'could not look at the join; it is met when every step it waits on has ended');
    }
  }
}
