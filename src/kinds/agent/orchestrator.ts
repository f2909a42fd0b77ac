/**
 * An orchestrator: an agent step whose agent (or the step) names `delegates`. The model gets a
 * `delegate(agent, task, context?)` tool (and `read_runs`), and decides at run time whom to
 * call. Each delegate call becomes a child step of this step on that agent's pool (a real step:
 * record, DAG node under its parent, events, that agent's limits and retries); the calls of one
 * answer run in parallel. The step waits for them without a worker slot, then resumes with
 * their results as tool results, until the model answers without tools: that answer is the
 * step's output.
 *
 * Crash safety comes from the checkpoint: each answer is saved (with the calls it asks for and
 * the child steps they become) before any child is added, so a delivery after a crash makes no
 * model call for a turn already answered and adds no child twice (child ids are deterministic:
 * `<step>.<turn>.<agent>`, and adding an id again adds nothing).
 *
 * Bounds, each with a clear outcome: `maxTurns` (the last turn is made without tools, so the
 * model answers; an answer that still asks for tools fails the step), `maxDelegations` (calls
 * beyond it get a tool error), `maxDepth` (an orchestrator that deep answers as a plain agent).
 * A call naming an unknown or forbidden agent, or with bad arguments, gets a tool error; so does
 * a failed delegate, unless `onDelegateFailure: fail`.
 *
 * Each call is recorded with its arguments and outcome (`calls` on the step, and in the
 * `step.progress` of its turn: once when the turn is planned, and once more with the results
 * of the delegates it waited for).
 */
import { z } from 'zod';
import { DEFAULT_ORCHESTRATION, type Orchestration, type ResolvedAgent } from '../../model/agent.js';
import { NonRetryableError, toError } from '../../errors/index.js';
import { buildMessages } from '../../calls/prompt.js';
import type { ChatMessage, CompletionResult, Provider, ToolCall, ToolDefinition, ToolResult } from '../../calls/provider.js';
import type { StepRecord } from '../../model/run.js';
import { JsonObject } from '../../model/json.js';
import type { CompiledStepOf, StepInput } from '../definition.js';
import { agentChild, type ChildStep, type ExecutionContext, type StepOutcome } from '../executor.js';
import { callsOf, describeArgsIssues, outcomeOf, type CallOutcome } from '../shared/tool-calls.js';
import { assertWithinPrompt } from '../shared/scope.js';
import { requestOf } from '../shared/request.js';
import { withDeltas } from '../shared/deltas.js';
import { READ_RUNS_TOOL, readRuns, readRunsTool, type ReadRuns } from './read-runs.js';

export interface OrchestratorDeps {
  providerFor: (agent: ResolvedAgent) => Provider;
  /** Without it, `read_runs` is not offered. */
  readRuns?: ReadRuns;
}

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

export const DELEGATE_TOOL = 'delegate';

type PendingCall = { callId: string; child: ChildStep; agent: string } | { callId: string; result: ToolResult };

/** The orchestrator's state between turns (the step's checkpoint). */
interface Checkpoint {
  orchestrator: 1;
  messages: ChatMessage[];
  /** Model calls answered. */
  turns: number;
  delegations: number;
  model: string | null;
  /** The calls of the last answer, until their results are in `messages`. */
  pending: PendingCall[] | null;
  /**
   * The step each delegation became, by call id (absent in an older checkpoint). The calls
   * themselves and their outcomes are in `messages` (see callsOf): not kept twice.
   */
  steps?: Record<string, string>;
}

const DelegateArgs = z.object({
  agent: z.string({ error: 'must name an agent' }),
  task: z.string({ error: 'must be a string' }).min(1, 'must not be empty'),
  context: JsonObject.optional(),
});

export async function orchestrate(
  deps: OrchestratorDeps,
  agent: ResolvedAgent,
  step: CompiledStepOf<'agent'>,
  input: StepInput,
  delegation: Delegation,
  ctx: ExecutionContext,
): Promise<StepOutcome> {
  const { limits } = delegation;
  const allowed = delegation.delegates.filter((d) => ctx.agents.get(d) !== undefined);
  const tools = [delegateTool(allowed.map((d) => ctx.agents.require(d)))];
  if (limits.readRuns && deps.readRuns) tools.push(readRunsTool(ctx.agents.names()));
  const cp: Checkpoint = isCheckpoint(ctx.checkpoint)
    ? structuredClone(ctx.checkpoint)
    : { orchestrator: 1, messages: buildMessages(input), turns: 0, delegations: 0, model: null, pending: null, steps: {} };
  const steps = (cp.steps ??= {});

  for (;;) {
    if (cp.pending) {
      const children = cp.pending.flatMap((p) => ('child' in p ? [p] : []));
      // Added, but not yet all finished: (re)add (nothing is added twice) and wait for them.
      if (children.length && !ctx.resumed) {
        await ctx.addSteps(children.map((c) => c.child));
        return { type: 'wait' };
      }
      const records = new Map((await ctx.steps(children.map((c) => c.child.id))).map((r) => [r.stepId, r]));
      const results = cp.pending.map((p) => ('result' in p ? p.result : childResult(p.callId, p.agent, records.get(p.child.id))));
      cp.messages.push({ role: 'tool', results });
      cp.pending = null;
      if (children.length) {
        // The outcomes of the delegations, told once they are in (the rest were told at once).
        const calls = callsOf(cp.messages, steps);
        ctx.record({ calls });
        ctx.progress({ turn: cp.turns, calls: calls.filter((c) => c.turn === cp.turns) });
        if (limits.onDelegateFailure === 'fail') failOnDelegateFailure(children, records);
      }
    }

    // Its delegates' answers pile up in the conversation: bounded like any step's input.
    assertWithinPrompt(cp.messages, ctx, "the orchestrator's conversation, its delegates' answers included,");
    const last = cp.turns + 1 >= limits.maxTurns;
    const messages: ChatMessage[] = last
      ? [...cp.messages, { role: 'user', content: `This is your last turn (maxTurns ${limits.maxTurns}): answer now, without tools.` }]
      : cp.messages;
    const answer = await call(deps, agent, step, ctx, messages, tools, last, cp.turns + 1);
    cp.turns++;
    cp.model = answer.model;
    const asked = answer.toolCalls ?? [];
    cp.messages.push({ role: 'assistant', content: answer.text, ...(asked.length ? { toolCalls: asked } : {}) });

    if (asked.length === 0) {
      return {
        type: 'succeeded',
        output: answer.text,
        input,
        model: cp.model,
        event: { turns: cp.turns, delegations: cp.delegations, ...(answer.stopReason ? { stopReason: answer.stopReason } : {}) },
      };
    }
    if (last)
      throw new NonRetryableError(
        `the orchestrator reached maxTurns (${limits.maxTurns}) and still asked for tools (${asked.map((c) => c.name).join(', ')}) instead of answering`,
      );

    const pending = await planCalls(deps, step, ctx, cp, asked, allowed, delegation);
    cp.pending = pending;
    for (const p of pending) if ('child' in p) steps[p.callId] = p.child.id;
    // Each call with its outcome now, or the step it became.
    const calls = callsOf(cp.messages, steps, new Map(pending.map((p) => [p.callId, plannedOutcome(p)])));
    const turnCalls = calls.filter((c) => c.turn === cp.turns);
    ctx.record({ calls });
    // The answer and what it asks for are durable before any of it is acted on.
    await ctx.saveCheckpoint(cp);
    const added = cp.pending.flatMap((p) => ('child' in p ? [p.child.id] : []));
    ctx.progress({ turn: cp.turns, toolCalls: asked.length, delegated: added, calls: turnCalls });
    if (added.length) {
      await ctx.addSteps(cp.pending.flatMap((p) => ('child' in p ? [p.child] : [])));
      return { type: 'wait' };
    }
    // Every call was answered at once (errors, read_runs): straight on to the next turn.
  }
}

async function call(
  deps: OrchestratorDeps,
  agent: ResolvedAgent,
  step: CompiledStepOf<'agent'>,
  ctx: ExecutionContext,
  messages: ChatMessage[],
  tools: ToolDefinition[],
  last: boolean,
  turn: number,
): Promise<CompletionResult> {
  // Named by its turn: a turn refused for capacity and asked again in a later delivery (which
  // resumes from the checkpoint) keeps the turn booked for it.
  // A streaming agent's turns send their text to live viewers (step.delta) as it arrives.
  return withDeltas(ctx, agent.stream, (s) =>
    ctx.metered(deps.providerFor(agent)).complete({ ...requestOf(agent, messages, ctx, `turn${turn}`), tools, toolChoice: last ? 'none' : 'auto', ...s }),
  );
}

/** Each call of an answer: a child step to add, or its result at once (an error, `read_runs`). */
async function planCalls(
  deps: OrchestratorDeps,
  step: CompiledStepOf<'agent'>,
  ctx: ExecutionContext,
  cp: Checkpoint,
  calls: ToolCall[],
  allowed: string[],
  delegation: Delegation,
): Promise<PendingCall[]> {
  const { limits } = delegation;
  const ids = new Set<string>();
  const out: PendingCall[] = [];
  for (const c of calls) {
    const error = (content: string): PendingCall => ({ callId: c.id, result: { toolCallId: c.id, content, isError: true } });
    if (c.invalidInput !== undefined) {
      out.push(error(`the arguments of ${c.name} are not valid JSON: ${c.invalidInput.slice(0, 200)}`));
      continue;
    }
    if (c.name === READ_RUNS_TOOL && limits.readRuns && deps.readRuns) {
      // A failed read is the model's to handle: the answer it came with is kept either way.
      const result = await readRuns(deps.readRuns, ctx, c).catch((err: unknown) => ({
        toolCallId: c.id,
        content: `read_runs failed: ${toError(err).message}`,
        isError: true,
      }));
      out.push({ callId: c.id, result });
      continue;
    }
    if (c.name !== DELEGATE_TOOL) {
      out.push(error(`unknown tool "${c.name}"; the tools are ${DELEGATE_TOOL}${limits.readRuns && deps.readRuns ? ` and ${READ_RUNS_TOOL}` : ''}`));
      continue;
    }
    const args = DelegateArgs.safeParse(c.input);
    if (!args.success) {
      out.push(error(`bad arguments for ${DELEGATE_TOOL}: ${describeArgsIssues(args.error.issues, '(arguments)')}`));
      continue;
    }
    const { agent, task, context } = args.data;
    if (!allowed.includes(agent)) {
      out.push(
        error(
          `${ctx.agents.get(agent) !== undefined ? `agent "${agent}" is not one this step may delegate to` : `there is no agent "${agent}"`}; the agents are: ${allowed.join(', ')}`,
        ),
      );
      continue;
    }
    if (cp.delegations >= limits.maxDelegations) {
      out.push(error(`the delegation limit is reached (maxDelegations ${limits.maxDelegations}); answer with what you have`));
      continue;
    }
    cp.delegations++;
    let id = `${step.id}.${cp.turns}.${agent}`;
    for (let k = 2; ids.has(id); k++) id = `${step.id}.${cp.turns}.${agent}-${k}`;
    ids.add(id);
    out.push({
      callId: c.id,
      agent,
      child: agentChild(
        id,
        agent,
        { task, ...(context ? { context } : {}) },
        {
          // A failed delegate comes back to the model, unless the step says it fails the step.
          optional: limits.onDelegateFailure === 'tool_error' ? true : step.optional,
          delegation: { depth: delegation.depth + 1, maxDepth: delegation.maxDepth },
        },
      ),
    });
  }
  return out;
}

/** What became of a call when its turn was planned: its result or error at once, or the step it became. */
const plannedOutcome = (p: PendingCall): CallOutcome => ('child' in p ? { step: p.child.id } : outcomeOf(p.result));

function childResult(callId: string, agent: string, record: StepRecord | undefined): ToolResult {
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
function failOnDelegateFailure(children: readonly { child: ChildStep; agent: string }[], records: ReadonlyMap<string, StepRecord>): void {
  for (const { child, agent } of children) {
    const record = records.get(child.id);
    if (record?.status !== 'succeeded') throw new NonRetryableError(`delegate "${record?.stepId ?? agent}" (agent ${agent}) ${whyNoAnswer(record)}`);
  }
}

function delegateTool(agents: ResolvedAgent[]): ToolDefinition {
  const lines = agents.map((a) => {
    const caps = a.capabilities.map((c) => (c.description ? `${c.name} (${c.description})` : c.name)).join(', ');
    return `- ${a.name}: ${a.description || 'no description'}${caps ? `; capabilities: ${caps}` : ''}`;
  });
  return {
    name: DELEGATE_TOOL,
    description: `Give a task to a specialist agent; its answer comes back as this call's result. Several calls in one answer run in parallel. The agents:\n${lines.join('\n')}`,
    inputSchema: {
      type: 'object',
      properties: {
        agent: { type: 'string', enum: agents.map((a) => a.name), description: 'the agent to call' },
        task: { type: 'string', description: 'what the agent should do, complete in itself' },
        context: { type: 'object', description: 'data the agent needs for the task' },
      },
      required: ['agent', 'task'],
    },
  };
}

function isCheckpoint(v: unknown): v is Checkpoint {
  return v !== null && typeof v === 'object' && (v as Checkpoint).orchestrator === 1;
}
