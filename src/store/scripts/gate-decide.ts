import type { Redis } from 'ioredis';
import { keys } from '../keys.js';
import type { Scope } from '../scope.js';
import { json, Script } from './script.js';

const script = new Script('gate-decide', 2);

export interface GateDecision {
  approved: boolean;
  /** Who decided (as the caller says), `timeout` or `automation`. */
  by: string;
  comment: string | null;
  at: string;
}

/**
 * Not applied: `why` is the script's word for it (`missing`, `not_a_gate`, `decided`, `revising`,
 * or the step's status). `agent`: whose queue holds the step's job (none: the control queue).
 */
export type GateDecideReply = ({ applied: true } | { applied: false; why: string }) & { agent?: string };

/** Record `decision` on the waiting approval gate, or agent step waiting on tool calls, `stepId` (see gate-decide.lua). */
export async function gateDecide(redis: Redis, a: { scope: Scope; runId: string; stepId: string; decision: GateDecision }): Promise<GateDecideReply> {
  const reply = (await script.run(
    redis,
    [keys.step(a.scope, a.runId, a.stepId), keys.events(a.scope, a.runId)],
    [json(a.decision), a.decision.approved ? 'step.approved' : 'step.rejected', a.decision.at],
  )) as (number | string)[];
  const agentJson = String(reply.at(-1) ?? 'null');
  const agent = agentJson === 'null' ? undefined : (JSON.parse(agentJson) as string | null);
  const at = agent ? { agent } : {};
  return reply[0] === 1 ? { applied: true, ...at } : { applied: false, why: String(reply[1] ?? 'missing'), ...at };
}
