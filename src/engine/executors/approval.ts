/**
 * `kind: approval`: humans who approve before anything is published (seed 002's automation
 * modes). The workflow's `automation` decides whether the gate waits: `full_autonomous` never,
 * `manual` always, `assisted` when the gate is marked `publish`, `hybrid` when one of its
 * `rules` (expressions over earlier outputs) is true. A gate that does not wait passes at once.
 * A gate that waits saves when it started waiting and its deadline (its checkpoint), then
 * sleeps in BullMQ's delayed set, holding no worker slot, until `POST
 * /v1/runs/:id/steps/:stepId/approve|reject` records the decision in its checkpoint and
 * promotes its job, or until `timeoutMs` passes and `onTimeout` decides. A rejection fails the
 * step (`onReject: fail`) or skips it (`skip`).
 */
import { NonRetryableError, toError } from '../../errors/index.js';
import type { GateDecision } from '../../runs/scripts/index.js';
import type { CompiledStepOf, StepInput } from '../../workflows/definition.js';
import { evaluateWhen } from '../../workflows/expression.js';
import { renderTemplates } from '../../workflows/templates.js';
import type { StepExecutor, StepOutcome } from '../executor.js';
import { templateScope } from './agent.js';

export const WAITING_FOR_APPROVAL = 'waiting for approval';

/** The gate's state while it waits (its checkpoint); the API adds `decision`. */
export interface GateCheckpoint {
  gate: 1;
  since: string;
  /** When `onTimeout` decides (ISO), or null to wait for as long as it takes. */
  deadline: string | null;
  decision?: GateDecision;
}

export function approvalExecutor(): StepExecutor<'approval'> {
  return {
    async execute(step, ctx) {
      const scope = templateScope(ctx.runInput, ctx.reads);
      let input: StepInput | undefined;
      try {
        input = step.input ? renderTemplates(step.input, scope) : undefined;
      } catch (err) {
        throw new NonRetryableError(`could not render the gate's input: ${toError(err).message}`);
      }
      const cp = isGateCheckpoint(ctx.checkpoint) ? ctx.checkpoint : null;
      if (!cp) {
        const why = waitsBecause(step, scope);
        if (!why) {
          const decision: GateDecision = { approved: true, by: 'automation', comment: `automation ${step.automation}: this gate does not wait`, at: new Date().toISOString() };
          return decided(step, decision, input);
        }
        const now = Date.now();
        const waiting: GateCheckpoint = { gate: 1, since: new Date(now).toISOString(), deadline: step.timeoutMs ? new Date(now + step.timeoutMs).toISOString() : null };
        await ctx.saveCheckpoint(waiting);
        return sleep(waiting, why);
      }
      if (cp.decision) return decided(step, cp.decision, input);
      if (cp.deadline && Date.now() >= Date.parse(cp.deadline)) {
        return decided(step, { approved: step.onTimeout === 'approve', by: 'timeout', comment: `no decision within ${step.timeoutMs} ms (onTimeout: ${step.onTimeout})`, at: new Date().toISOString() }, input);
      }
      // Woken without a decision before its deadline: back to sleep.
      return sleep(cp, WAITING_FOR_APPROVAL);
    },
  };
}

function sleep(cp: GateCheckpoint, reason: string): StepOutcome {
  return { type: 'sleep', untilMs: cp.deadline ? Date.parse(cp.deadline) : Number.POSITIVE_INFINITY, reason };
}

/** Why the gate waits under its workflow's automation, or null when it passes at once. */
function waitsBecause(step: CompiledStepOf<'approval'>, scope: ReturnType<typeof templateScope>): string | null {
  switch (step.automation) {
    case 'full_autonomous':
      return null;
    case 'manual':
      return WAITING_FOR_APPROVAL;
    case 'assisted':
      return step.publish ? `${WAITING_FOR_APPROVAL} (assisted: it publishes)` : null;
    case 'hybrid': {
      const rule = step.rules.find((r) => {
        try {
          return evaluateWhen(r, scope);
        } catch (err) {
          throw new NonRetryableError(`could not evaluate the rule ${JSON.stringify(r)}: ${toError(err).message}`);
        }
      });
      return rule ? `${WAITING_FOR_APPROVAL} (hybrid: ${rule})` : null;
    }
  }
}

function decided(step: CompiledStepOf<'approval'>, decision: GateDecision, input: StepInput | undefined): StepOutcome {
  if (decision.approved) return { type: 'succeeded', output: { ...decision }, ...(input ? { input } : {}), event: { approved: true, by: decision.by } };
  const reason = `rejected by ${decision.by}${decision.comment ? `: ${decision.comment}` : ''}`;
  if (step.onReject === 'skip') return { type: 'skipped', reason };
  throw new NonRetryableError(reason);
}

function isGateCheckpoint(v: unknown): v is GateCheckpoint {
  return v !== null && typeof v === 'object' && (v as GateCheckpoint).gate === 1;
}
