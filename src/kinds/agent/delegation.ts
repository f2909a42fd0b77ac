/**
 * Delegation: the `delegate(agent | capability, task, context?)` tool of an agent (or step) that
 * names `delegates`. A call may name a capability instead of an agent: one of the delegates that
 * declare it is chosen (healthy first, then priority, cost and limiter wait: ExecutionContext.route)
 * and the child step records the choice and why (`routing`). Each delegate call becomes a child step of the calling step on that agent's pool
 * (a real step: record, DAG node under its parent, events, that agent's limits and retries), id
 * `<step>.<turn>.<agent>` (deterministic: adding it again adds nothing). Bounds: `maxDelegations`
 * (calls beyond it get a tool error), `maxDepth` (an agent that deep does not delegate). A call
 * naming an unknown or forbidden agent, or with bad arguments, gets a tool error; so does a
 * failed delegate, unless `onDelegateFailure: fail`. The tool loop (tool-loop.ts) runs them.
 */
import { z } from 'zod';
import { DEFAULT_ORCHESTRATION, type Orchestration, type ResolvedAgent } from '../../model/agent.js';
import { DELEGATE_TOOL } from '../../model/tool.js';
import { NonRetryableError } from '../../errors/index.js';
import type { ToolCall, ToolDefinition, ToolResult } from '../../calls/provider.js';
import type { StepRecord } from '../../model/run.js';
import { JsonObject } from '../../model/json.js';
import type { StepRouting } from '../../model/routing.js';
import type { CompiledStepOf } from '../definition.js';
import { agentChild, type ChildStep, type ExecutionContext } from '../executor.js';
import { describeArgsIssues } from '../shared/tool-calls.js';

/** What an agent step may delegate, with the bounds in force. */
export interface Delegation {
  delegates: string[];
  limits: Orchestration;
  /** Delegations above this step (0 for a step of the definition). */
  depth: number;
  maxDepth: number;
  /** It delegates: it has delegates, and is not at the depth limit. */
  active: boolean;
}

export function delegationOf(agent: ResolvedAgent, step: CompiledStepOf<'agent'>): Delegation {
  const delegates = step.delegates ?? agent.delegates;
  const limits = { ...DEFAULT_ORCHESTRATION, ...agent.orchestration, ...step.orchestration };
  const depth = step.delegation?.depth ?? 0;
  const maxDepth = step.delegation?.maxDepth ?? limits.maxDepth;
  return { delegates, limits, depth, maxDepth, active: delegates.length > 0 && depth < maxDepth };
}

/** A delegate call planned: the child step it becomes. */
export interface PlannedDelegation {
  callId: string;
  child: ChildStep;
  agent: string;
}

/** What a delegate call names as its agent to have one chosen by capability. */
export const ANY_AGENT = '*';

const DelegateArgs = z
  .object({
    // `*` (as the tool's schema offers it beside the agents' names): the agent is chosen by `capability`.
    agent: z
      .string({ error: 'must name an agent' })
      .optional()
      .transform((a) => (a === ANY_AGENT ? undefined : a)),
    capability: z.string({ error: 'must name a capability' }).optional(),
    task: z.string({ error: 'must be a string' }).min(1, 'must not be empty'),
    context: JsonObject.optional(),
  })
  .refine((a) => (a.agent === undefined) !== (a.capability === undefined), {
    message: `name either an agent, or "${ANY_AGENT}" as the agent and a capability`,
  });

/**
 * A delegate call that names a capability: the routing its child records (its `chosen` agent),
 * or the error the model gets; undefined for a call that names an agent (or whose arguments
 * planDelegation refuses).
 */
export async function routeDelegation(
  c: ToolCall,
  ctx: Pick<ExecutionContext, 'agents' | 'route'>,
  delegation: Delegation,
): Promise<StepRouting | string | undefined> {
  const args = DelegateArgs.safeParse(c.input);
  if (!args.success || args.data.capability === undefined) return undefined;
  if (!ctx.route) return `delegation by capability is not available here; name an agent: ${allowedDelegates(delegation, ctx).join(', ')}`;
  const routed = await ctx.route(args.data.capability, allowedDelegates(delegation, ctx));
  if ('refused' in routed)
    return `${routed.refused} among the agents this step may delegate to; the capabilities are: ${capabilitiesOf(delegation, ctx).join(', ') || 'none'}`;
  return routed;
}

/** The capabilities the step's delegates declare. */
const capabilitiesOf = (delegation: Delegation, ctx: Pick<ExecutionContext, 'agents'>): string[] => [
  ...new Set(allowedDelegates(delegation, ctx).flatMap((d) => ctx.agents.require(d).capabilities.map((c) => c.name))),
];

/**
 * A delegate call of turn `turn`: the child step it becomes, or the error the model gets.
 * `state.delegations`: the step's delegations so far (the caller counts this one); `ids`: the
 * child ids of this turn so far.
 */
export function planDelegation(
  c: ToolCall,
  step: CompiledStepOf<'agent'>,
  ctx: Pick<ExecutionContext, 'agents'>,
  delegation: Delegation,
  state: { turn: number; delegations: number; ids: Set<string> },
  routing?: StepRouting,
): PlannedDelegation | string {
  const { limits } = delegation;
  const allowed = allowedDelegates(delegation, ctx);
  const args = DelegateArgs.safeParse(c.input);
  if (!args.success) return `bad arguments for ${DELEGATE_TOOL}: ${describeArgsIssues(args.error.issues, '(arguments)')}`;
  const { task, context } = args.data;
  const agent = routing?.chosen ?? args.data.agent;
  if (agent === undefined) return `${DELEGATE_TOOL} by capability needs a choice of agent, which was not made`;
  if (!allowed.includes(agent)) {
    return `${ctx.agents.get(agent) !== undefined ? `agent "${agent}" is not one this step may delegate to` : `there is no agent "${agent}"`}; the agents are: ${allowed.join(', ')}`;
  }
  if (state.delegations >= limits.maxDelegations) return `the delegation limit is reached (maxDelegations ${limits.maxDelegations}); answer with what you have`;
  let id = `${step.id}.${state.turn}.${agent}`;
  for (let k = 2; state.ids.has(id); k++) id = `${step.id}.${state.turn}.${agent}-${k}`;
  state.ids.add(id);
  const child = agentChild(
    id,
    agent,
    { task, ...(context ? { context } : {}) },
    {
      // A failed delegate comes back to the model, unless the step says it fails the step.
      optional: limits.onDelegateFailure === 'tool_error' ? true : step.optional,
      delegation: { depth: delegation.depth + 1, maxDepth: delegation.maxDepth },
      ...(routing ? { routing } : {}),
    },
  );
  return { callId: c.id, agent, child };
}

/** The delegates the step may call that its workspace knows. */
export const allowedDelegates = (delegation: Delegation, ctx: Pick<ExecutionContext, 'agents'>): string[] =>
  delegation.delegates.filter((d) => ctx.agents.get(d) !== undefined);

/** A delegate's answer as its call's tool result (an error when it did not answer). */
export function childResult(callId: string, agent: string, record: StepRecord | undefined): ToolResult {
  if (record?.status === 'succeeded') return { toolCallId: callId, content: typeof record.output === 'string' ? record.output : JSON.stringify(record.output) };
  return { toolCallId: callId, content: `agent "${agent}" ${whyNoAnswer(record)}`, isError: true };
}

function whyNoAnswer(record: StepRecord | undefined): string {
  if (!record) return 'did not answer (its step is missing)';
  return record.status === 'failed'
    ? `failed: ${record.error ?? 'unknown error'}`
    : `did not answer (${record.status}${record.reason ? `: ${record.reason}` : ''})`;
}

/** `onDelegateFailure: fail`: a delegate that did not answer fails the step. */
export function failOnDelegateFailure(children: readonly PlannedDelegation[], records: ReadonlyMap<string, StepRecord>): void {
  for (const { child, agent } of children) {
    const record = records.get(child.id);
    if (record?.status !== 'succeeded') throw new NonRetryableError(`delegate "${record?.stepId ?? agent}" (agent ${agent}) ${whyNoAnswer(record)}`);
  }
}

export function delegateTool(agents: ResolvedAgent[], byCapability = false): ToolDefinition {
  const lines = agents.map((a) => {
    const caps = a.capabilities.map((c) => (c.description ? `${c.name} (${c.description})` : c.name)).join(', ');
    return `- ${a.name}: ${a.description || 'no description'}${caps ? `; capabilities: ${caps}` : ''}`;
  });
  const capabilities = [...new Set(agents.flatMap((a) => a.capabilities.map((c) => c.name)))].sort();
  // A capability may be named instead of an agent where routing is available and some delegate declares one.
  const routed = byCapability && capabilities.length > 0;
  return {
    name: DELEGATE_TOOL,
    description: `Give a task to a specialist agent; its answer comes back as this call's result. Several calls in one answer run in parallel.${
      routed ? ` Name an agent, or "${ANY_AGENT}" and a capability: the best available agent that has it is chosen.` : ''
    } The agents:\n${lines.join('\n')}`,
    inputSchema: {
      type: 'object',
      properties: {
        // A required `agent` (with `*` for "choose by capability") keeps the schema one plain object every provider takes.
        agent: routed
          ? {
              type: 'string',
              enum: [...agents.map((a) => a.name), ANY_AGENT],
              description: `the agent to call, or "${ANY_AGENT}" to have one chosen by capability`,
            }
          : { type: 'string', enum: agents.map((a) => a.name), description: 'the agent to call' },
        ...(routed ? { capability: { type: 'string', enum: capabilities, description: `with agent "${ANY_AGENT}": the capability the agent must have` } } : {}),
        task: { type: 'string', description: 'what the agent should do, complete in itself' },
        context: { type: 'object', description: 'data the agent needs for the task' },
      },
      required: ['agent', 'task'],
    },
  };
}
