/**
 * The tool loop: an agent step whose agent has `tools` or `delegates` talks with its model turn
 * by turn. Each answer's tool calls are planned (tool-turn.ts): a delegation becomes a child step
 * (delegation.ts), a built-in answers at once, a call of an HTTP or MCP tool is made after the
 * answer is saved, each result saved before the next call; a call whose tool needs approval
 * waits for a person. The model gets the results as tool results, until it answers without
 * tools: that answer is the step's output.
 *
 * Crash safety comes from the checkpoint (loop-state.ts): each answer is saved with the calls
 * it asks for (and the child steps they become) before any of them is acted on, so a delivery
 * after a crash makes no model call for a turn already answered, makes no call whose result is
 * saved, and adds no child twice.
 *
 * Approval: the step saves that it waits (`awaiting`) and sleeps in its queue's delayed set,
 * holding no worker slot, `waiting` with a reason that starts as an approval gate's; `POST
 * /v1/runs/:id/steps/:stepId/approve|reject` writes the decision into its checkpoint and wakes
 * it. One decision answers every call of the turn that waits.
 *
 * Bounds: `maxTurns` (the last turn is made without tools, so the model answers; an answer that
 * still asks for tools fails the step). Each call is recorded (`calls` on the step, and in the
 * `step.progress` of its turn), with the decision on it when it waited for one.
 */
import { NonRetryableError } from '../../errors/index.js';
import { buildMessages } from '../../calls/prompt.js';
import type { ChatMessage, CompletionResult, Provider, ToolDefinition } from '../../calls/provider.js';
import { TOOL_APPROVAL_REASON, type ToolCallRecord } from '../../model/run.js';
import type { Orchestration, ResolvedAgent } from '../../model/agent.js';
import type { CompiledStepOf, StepInput } from '../definition.js';
import type { ExecutionContext, StepOutcome } from '../executor.js';
import { clipJson } from '../../lang/clip-json.js';
import { assertWithinPrompt } from '../shared/scope.js';
import { requestOf } from '../shared/request.js';
import { withDeltas } from '../shared/deltas.js';
import { childResult, failOnDelegateFailure } from './delegation.js';
import { applyDecision, isChild, isLoopCheckpoint, transcriptOf, waitingCalls, type LoopCheckpoint } from './loop-state.js';
import { makeCalls, planCalls, type TurnTools } from './tool-turn.js';

/** The loop's setting: what it may call, the tool definitions offered, its bounds. */
export interface LoopSetup extends TurnTools {
  offered: ToolDefinition[];
  limits: Orchestration;
}

type Env = { provider: Provider; agent: ResolvedAgent; step: CompiledStepOf<'agent'>; ctx: ExecutionContext; setup: LoopSetup };

export async function runToolLoop(
  provider: Provider,
  agent: ResolvedAgent,
  step: CompiledStepOf<'agent'>,
  input: StepInput,
  setup: LoopSetup,
  ctx: ExecutionContext,
): Promise<StepOutcome> {
  const env: Env = { provider, agent, step, ctx, setup };
  const { limits } = setup;
  const cp: LoopCheckpoint = isLoopCheckpoint(ctx.checkpoint)
    ? structuredClone(ctx.checkpoint)
    : { orchestrator: 1, messages: buildMessages(input), turns: 0, delegations: 0, model: null, pending: null, steps: {} };
  // Children of the pending turn were added in an earlier segment, which this one resumes after.
  let fresh = !ctx.resumed;
  for (;;) {
    if (cp.pending) {
      if (cp.decision) fresh = true;
      const waits = await settlePending(env, cp, fresh);
      if (waits) return waits;
    }
    // Tool results pile up in the conversation: bounded like any step's input.
    assertWithinPrompt(
      cp.messages,
      ctx,
      setup.delegation ? "the orchestrator's conversation, its delegates' answers included," : "the agent's conversation, its tool results included,",
    );
    const last = cp.turns + 1 >= limits.maxTurns;
    const messages: ChatMessage[] = last
      ? [...cp.messages, { role: 'user', content: `This is your last turn (maxTurns ${limits.maxTurns}): answer now, without tools.` }]
      : cp.messages;
    const answer = await call(env, messages, last, cp.turns + 1);
    cp.turns++;
    cp.model = answer.model;
    const asked = answer.toolCalls ?? [];
    cp.messages.push({ role: 'assistant', content: answer.text, ...(asked.length ? { toolCalls: asked } : {}) });
    if (asked.length === 0) {
      const event = { turns: cp.turns, delegations: cp.delegations, ...(answer.stopReason ? { stopReason: answer.stopReason } : {}) };
      return { type: 'succeeded', output: answer.text, input, model: cp.model, event };
    }
    if (last)
      throw new NonRetryableError(
        `${setup.delegation ? 'the orchestrator' : 'the agent'} reached maxTurns (${limits.maxTurns}) and still asked for tools (${asked.map((c) => c.name).join(', ')}) instead of answering`,
      );
    cp.pending = await planCalls(step, ctx, cp, asked, setup);
    for (const p of cp.pending) if (isChild(p)) (cp.steps ??= {})[p.callId] = p.child.id;
    const calls = record(env, cp);
    // The answer and what it asks for are durable before any of it is acted on.
    await ctx.saveCheckpoint(cp);
    const delegated = cp.pending.flatMap((p) => (isChild(p) ? [p.child.id] : []));
    ctx.progress({ turn: cp.turns, toolCalls: asked.length, delegated, calls: calls.filter((c) => c.turn === cp.turns) });
    fresh = true;
  }
}

/**
 * The calls of the last answer, on to their results: a decision applied, a wait for one, the
 * calls made, the children added and waited for; then their results appended to the
 * conversation. Returns the outcome when the step waits, null to go on to the next turn.
 */
async function settlePending(env: Env, cp: LoopCheckpoint, fresh: boolean): Promise<StepOutcome | null> {
  const { ctx, step, setup } = env;
  if (cp.decision) {
    applyDecision(cp, cp.decision);
    record(env, cp);
    await ctx.saveCheckpoint(cp);
  }
  const waiting = waitingCalls(cp);
  if (waiting.length) {
    if (!cp.awaiting) {
      cp.awaiting = true;
      record(env, cp);
      await ctx.saveCheckpoint(cp);
    }
    const shown = waiting.map((w) => ({ id: w.callId, name: w.tool, args: clipJson(w.args, ctx.bounds.transcriptPartChars).value }));
    const reason = `${TOOL_APPROVAL_REASON}: ${waiting.map((w) => w.tool).join(', ')}`;
    return { type: 'sleep', untilMs: Number.POSITIVE_INFINITY, reason, details: { turn: cp.turns, calls: shown } };
  }
  await makeCalls(ctx, step.id, cp, setup.box, async () => {
    record(env, cp);
    await ctx.saveCheckpoint(cp);
  });
  const pending = cp.pending ?? [];
  const children = pending.filter(isChild);
  // Added, but not yet all finished: (re)add (nothing is added twice) and wait for them.
  if (children.length && fresh) {
    await ctx.addSteps(children.map((c) => c.child));
    return { type: 'wait' };
  }
  const records = new Map((await ctx.steps(children.map((c) => c.child.id))).map((r) => [r.stepId, r]));
  const results = pending.map((p) => (isChild(p) ? childResult(p.callId, p.agent, records.get(p.child.id)) : 'result' in p ? p.result : unreachable()));
  cp.messages.push({ role: 'tool', results });
  cp.pending = null;
  const calls = record(env, cp);
  if (children.length) {
    // The outcomes of the delegations, told once they are in (the rest were told at once).
    ctx.progress({ turn: cp.turns, calls: calls.filter((c) => c.turn === cp.turns) });
    if (setup.limits.onDelegateFailure === 'fail') failOnDelegateFailure(children, records);
  }
  return null;
}

function unreachable(): never {
  throw new Error('a tool call without a result after its calls were made');
}

/** The transcript, kept on the step with its next write. */
function record(env: Env, cp: LoopCheckpoint): ToolCallRecord[] {
  const calls = transcriptOf(cp, env.ctx.bounds.transcriptPartChars);
  env.ctx.record({ calls });
  return calls;
}

async function call(env: Env, messages: ChatMessage[], last: boolean, turn: number): Promise<CompletionResult> {
  const { ctx, agent, setup } = env;
  // Named by its turn: a turn refused for capacity and asked again in a later delivery (which
  // resumes from the checkpoint) keeps the turn booked for it.
  // A streaming agent's turns send their text to live viewers (step.delta) as it arrives.
  return withDeltas(ctx, agent.stream, (s) =>
    ctx.metered(env.provider).complete({ ...requestOf(agent, messages, ctx, `turn${turn}`), tools: setup.offered, toolChoice: last ? 'none' : 'auto', ...s }),
  );
}
