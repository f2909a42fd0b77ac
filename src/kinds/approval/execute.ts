/**
 * `kind: approval`: humans who approve before anything is published (seed 002's automation
 * modes). The workflow's `automation` decides whether the gate waits: `full_autonomous` never,
 * `manual` always, `assisted` when the gate is marked `publish`, `hybrid` when one of its
 * `rules` (expressions over earlier outputs) is true. A gate that does not wait passes at once.
 * A gate that waits saves when it started waiting and its deadline (its checkpoint), then
 * sleeps in BullMQ's delayed set, holding no worker slot, until `POST
 * /v1/runs/:id/steps/:stepId/approve|reject` records the decision in its checkpoint and
 * promotes its job, or until `timeoutMs` passes and `onTimeout` decides. A rejection fails the
 * step (`onReject: fail`), skips it (`skip`), or (`revise`) adds a revision of the step under
 * review, `<gate>.<n>.revise` (its agent, the input it ran with, plus `previousOutput` and the
 * comment as `feedback`), waits for it, then waits for a decision on the revision; after
 * `maxRevisions` a rejection fails. Approved, the gate answers the decision and, with a step
 * under review, the version approved (`output`) and how many revisions it took.
 */
import { NonRetryableError } from '../../errors/index.js';
import type { GateDecision } from '../../store/scripts/index.js';
import { GATE_WAITING_REASON } from '../../model/run.js';
import type { CompiledStepOf, StepInput } from '../definition.js';
import { agentChild, type StepExecutor, type StepOutcome } from '../executor.js';
import { evaluateFor, renderWith, scopeOf } from '../shared/scope.js';
import type { TemplateScope } from '../../lang/templates.js';

/** The gate's state while it waits (its checkpoint); the API adds `decision`. */
export interface GateCheckpoint {
  gate: 1;
  since: string;
  /** When `onTimeout` decides (ISO), or null to wait for as long as it takes. */
  deadline: string | null;
  decision?: GateDecision;
  /** Revisions asked for so far (onReject: revise), and the last one's output. */
  revisions?: number;
  current?: unknown;
  /** A revision runs: no decision is taken meanwhile. */
  revising?: boolean;
}

export function approvalExecutor(): StepExecutor<'approval'> {
  return {
    async execute(step, ctx) {
      const scope = scopeOf(ctx);
      const input = step.input ? renderWith(step.input, scope, "the gate's input") : undefined;
      const reviewed = step.review ? ctx.reads.find((r) => r.stepId === step.review!.stepId)?.output : undefined;
      const cp = isGateCheckpoint(ctx.checkpoint) ? { ...ctx.checkpoint } : null;
      const now = () => new Date().toISOString();
      const waitAgain = async (next: GateCheckpoint, why: string): Promise<StepOutcome> => {
        await ctx.saveCheckpoint(next);
        return sleep(next, why);
      };
      const fresh = (base: Partial<GateCheckpoint> = {}): GateCheckpoint => {
        const t = Date.now();
        return { ...base, gate: 1, since: new Date(t).toISOString(), deadline: step.timeoutMs ? new Date(t + step.timeoutMs).toISOString() : null };
      };
      if (!cp) {
        const why = waitsBecause(step, scope);
        if (!why)
          return decided(
            step,
            { approved: true, by: 'automation', comment: `automation ${step.automation}: this gate does not wait`, at: now() },
            input,
            reviewed,
            null,
          );
        return waitAgain(fresh(), why);
      }
      const version = cp.revisions ? cp.current : reviewed;
      if (cp.revising) {
        // A revision ran (it is a required child: had it failed, the run would have ended).
        const id = reviseId(step.id, cp.revisions ?? 0);
        const [rec] = await ctx.steps([id]);
        if (rec?.status !== 'succeeded') throw new NonRetryableError(`revision "${id}" ${rec ? `ended ${rec.status}` : 'is missing'}`);
        const { revising: _r, decision: _d, ...rest } = cp;
        return waitAgain(fresh({ ...rest, current: rec.output }), `${GATE_WAITING_REASON} (revision ${cp.revisions})`);
      }
      let decision = cp.decision;
      if (!decision && cp.deadline && Date.now() >= Date.parse(cp.deadline)) {
        decision = {
          approved: step.onTimeout === 'approve',
          by: 'timeout',
          comment: `no decision within ${step.timeoutMs} ms (onTimeout: ${step.onTimeout})`,
          at: now(),
        };
      }
      // Woken without a decision before its deadline: back to sleep.
      if (!decision) return sleep(cp, GATE_WAITING_REASON);
      if (!decision.approved && step.onReject === 'revise' && step.review && decision.by !== 'timeout') {
        const n = (cp.revisions ?? 0) + 1;
        if (n <= step.maxRevisions) {
          const [under] = await ctx.steps([step.review.stepId]);
          const base = (under?.input ?? { task: '' }) as StepInput;
          const child = agentChild(reviseId(step.id, n), step.review.agent, {
            task: base.task,
            context: { ...base.context, previousOutput: version ?? null, feedback: decision.comment ?? `rejected by ${decision.by}` },
          });
          const { decision: _d, ...rest } = cp;
          await ctx.saveCheckpoint({ ...rest, revisions: n, revising: true, current: version });
          await ctx.addSteps([child]);
          ctx.progress({ revision: n, feedback: decision.comment });
          return { type: 'wait' };
        }
        decision = { ...decision, comment: `${decision.comment ?? ''}${decision.comment ? ' ' : ''}(no revision left: maxRevisions ${step.maxRevisions})` };
      }
      return decided(step, decision, input, version, cp.revisions ?? null);
    },
  };
}

const reviseId = (gate: string, n: number) => `${gate}.${n}.revise`;

function sleep(cp: GateCheckpoint, reason: string): StepOutcome {
  return { type: 'sleep', untilMs: cp.deadline ? Date.parse(cp.deadline) : Number.POSITIVE_INFINITY, reason };
}

/** Why the gate waits under its workflow's automation, or null when it passes at once. */
function waitsBecause(step: CompiledStepOf<'approval'>, scope: TemplateScope): string | null {
  switch (step.automation) {
    case 'full_autonomous':
      return null;
    case 'manual':
      return GATE_WAITING_REASON;
    case 'assisted':
      return step.publish ? `${GATE_WAITING_REASON} (assisted: it publishes)` : null;
    case 'hybrid': {
      const rule = step.rules.find((r) => evaluateFor(r, scope, `the rule ${JSON.stringify(r)}`));
      return rule ? `${GATE_WAITING_REASON} (hybrid: ${rule})` : null;
    }
  }
}

function decided(
  step: CompiledStepOf<'approval'>,
  decision: GateDecision,
  input: StepInput | undefined,
  version: unknown,
  revisions: number | null,
): StepOutcome {
  if (decision.approved) {
    // With a step under review: the version approved (its output, or the last revision's).
    const output = { ...decision, ...(step.review ? { output: version ?? null, revisions: revisions ?? 0 } : {}) };
    return { type: 'succeeded', output, ...(input ? { input } : {}), event: { approved: true, by: decision.by } };
  }
  const reason = `rejected by ${decision.by}${decision.comment ? `: ${decision.comment}` : ''}`;
  if (step.onReject === 'skip') return { type: 'skipped', reason };
  throw new NonRetryableError(reason);
}

function isGateCheckpoint(v: unknown): v is GateCheckpoint {
  return v !== null && typeof v === 'object' && (v as GateCheckpoint).gate === 1;
}
