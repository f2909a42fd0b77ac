/**
 * The compile rule of `kind: agent`: known agents (its own and its delegates), and for a
 * definition a request brings, the orchestration it may ask for (see RequestCaps).
 */
import { DEFAULT_ORCHESTRATION, type OrchestrationOptions } from '../../model/agent.js';
import type { StepDefinitionOf } from '../definition.js';
import { checkAgent, type CompileContext, type KindRule, type RequestCaps } from '../compile-rule.js';

const CAP_SETTINGS = {
  maxTurns: 'SWITCHYARD_MAX_ORCHESTRATOR_TURNS',
  maxDelegations: 'SWITCHYARD_MAX_DELEGATIONS',
  maxDepth: 'SWITCHYARD_MAX_DELEGATION_DEPTH',
} as const;

/** Report each orchestration bound of a request's agent step above what it may ask for. */
function checkCaps(def: StepDefinitionOf<'agent'>, ctx: CompileContext): void {
  const { caps } = ctx;
  if (!caps || !def.orchestration) return;
  const own = caps.agent(def.agent)?.orchestration;
  for (const field of Object.keys(CAP_SETTINGS) as (keyof typeof CAP_SETTINGS)[]) {
    const asked = def.orchestration[field];
    if (asked === undefined) continue;
    const agentOwn = own?.[field];
    if (agentOwn !== undefined && agentOwn < caps[field] && asked > agentOwn) {
      ctx.issue(
        `${ctx.path}.orchestration.${field}`,
        `${field} ${asked} is more than agent "${def.agent}" allows: at most its own ${field}, ${agentOwn} (a request may lower it, not raise it)`,
      );
    } else if (asked > caps[field]) {
      ctx.issue(`${ctx.path}.orchestration.${field}`, `${field} ${asked} is more than a request may ask for: at most ${caps[field]} (${CAP_SETTINGS[field]})`);
    }
  }
}

/**
 * The orchestration a request's agent step runs with. A step that delegates (its own
 * `delegates` or its agent's) gets every bound set, each at most the server's maximum: what it
 * asked for, else its agent's own, else the engine's default (which an operator's lower cap
 * would not otherwise bound). Other steps, and definitions from files, keep what they set.
 */
export function cappedOrchestration(def: StepDefinitionOf<'agent'>, caps: RequestCaps | undefined): OrchestrationOptions | undefined {
  if (!caps) return def.orchestration;
  const agent = caps.agent(def.agent);
  if ((def.delegates ?? agent?.delegates ?? []).length === 0) return def.orchestration;
  const out: OrchestrationOptions = { ...def.orchestration };
  for (const field of Object.keys(CAP_SETTINGS) as (keyof typeof CAP_SETTINGS)[]) {
    out[field] = Math.min(def.orchestration?.[field] ?? agent?.orchestration?.[field] ?? DEFAULT_ORCHESTRATION[field], caps[field]);
  }
  return out;
}

export const agentRule: KindRule<'agent'> = {
  templated: (def) => [{ at: 'input', value: def.input }],
  check(def, ctx) {
    checkAgent(ctx, 'agent', def.agent);
    def.delegates?.forEach((d, i) => {
      if (d === def.agent) ctx.issue(`${ctx.path}.delegates[${i}]`, 'a step may not delegate to its own agent');
      else checkAgent(ctx, `delegates[${i}]`, d);
    });
    checkCaps(def, ctx);
  },
  rendered: (step) => (step.literal ? [] : [{ at: 'input', value: step.input }]),
  schemas: (def) => (def.output ? [{ at: 'output.schema', schema: def.output.schema }] : []),
  compile: (def, workflow) => {
    const orchestration = cappedOrchestration(def, workflow.caps);
    return {
      kind: 'agent',
      agent: def.agent,
      input: def.input,
      ...(def.delegates ? { delegates: def.delegates } : {}),
      ...(orchestration ? { orchestration } : {}),
      ...(def.output ? { outputSchema: def.output.schema } : {}),
    };
  },
};
