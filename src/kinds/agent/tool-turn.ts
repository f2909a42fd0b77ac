/**
 * One answer's tool calls: planned (each checked, then a delegation, a result at once, or a
 * call to make) and, once the answer is saved, made one by one, each result saved before the
 * next call (so a delivery after a crash makes only the calls without a saved result, with the
 * same Idempotency-Key).
 */
import { toError } from '../../errors/index.js';
import { schemaErrors } from '../../lang/json-schema.js';
import type { ToolCall, ToolResult } from '../../calls/provider.js';
import type { AgentTool, ToolCallScope } from '../../tools/tool.js';
import type { CompiledStepOf } from '../definition.js';
import type { ExecutionContext } from '../executor.js';
import { DELEGATE_TOOL } from '../../model/tool.js';
import { planDelegation, routeDelegation, type Delegation } from './delegation.js';
import { isToCall, type LoopCheckpoint, type PendingCall } from './loop-state.js';

/** What a turn may call: the delegations (when it delegates) and the toolbox. */
export interface TurnTools {
  delegation: Delegation | null;
  box: ReadonlyMap<string, AgentTool>;
}

/** The names offered, for a model that called another one. */
export const offeredNames = (t: TurnTools): string[] => [...(t.delegation ? [DELEGATE_TOOL] : []), ...t.box.keys()];

/**
 * Each call of the answer of turn `cp.turns`: a child step to add, its result at once (an error,
 * a built-in), or a call to make once the answer is saved (kind http or mcp, or waiting for approval).
 */
export async function planCalls(
  step: CompiledStepOf<'agent'>,
  ctx: ExecutionContext,
  cp: LoopCheckpoint,
  calls: readonly ToolCall[],
  tools: TurnTools,
): Promise<PendingCall[]> {
  const ids = new Set<string>();
  const out: PendingCall[] = [];
  for (const [i, c] of calls.entries()) {
    const error = (content: string): PendingCall => ({ callId: c.id, result: { toolCallId: c.id, content, isError: true } });
    if (c.invalidInput !== undefined) {
      out.push(error(`the arguments of ${c.name} are not valid JSON: ${c.invalidInput.slice(0, 200)}`));
      continue;
    }
    if (c.name === DELEGATE_TOOL && tools.delegation) {
      // A call naming a capability: its agent is chosen first (an error when none can be).
      const routing = await routeDelegation(c, ctx, tools.delegation);
      const planned =
        typeof routing === 'string' ? routing : planDelegation(c, step, ctx, tools.delegation, { turn: cp.turns, delegations: cp.delegations, ids }, routing);
      if (typeof planned === 'string') out.push(error(planned));
      else {
        cp.delegations++;
        out.push(planned);
      }
      continue;
    }
    const tool = tools.box.get(c.name);
    if (!tool) {
      out.push(error(`unknown tool "${c.name}"; the tools are ${listed(offeredNames(tools))}`));
      continue;
    }
    const problems = argumentProblems(tool, c.input);
    if (problems) {
      out.push(error(`bad arguments for ${c.name}: ${problems}`));
      continue;
    }
    let approval: boolean;
    try {
      approval = tool.needsApproval(c.input);
    } catch (err) {
      out.push(error(`cannot tell whether ${c.name} needs approval with these arguments: ${toError(err).message}`));
      continue;
    }
    const toCall = { callId: c.id, tool: c.name, args: c.input, index: i + 1 };
    if (approval) out.push({ ...toCall, approval: 'waiting' });
    else if (tool.kind === 'builtin') out.push({ callId: c.id, result: await callBuiltin(tool, c.input, scopeOf(ctx, step.id, cp.turns, toCall)) });
    else out.push(toCall);
  }
  return out;
}

/** Why `args` do not fit the tool's input schema (null: they do). */
function argumentProblems(tool: AgentTool, args: unknown): string | null {
  try {
    const errors = schemaErrors(tool.definition.inputSchema, args ?? {});
    return errors.length ? errors.join('; ') : null;
  } catch (err) {
    return `its input schema cannot check them (${toError(err).message})`;
  }
}

/**
 * Make the calls of the last answer that have no saved result (and wait for no decision), in
 * order, each result saved into the checkpoint before the next call is made.
 */
export async function makeCalls(
  ctx: ExecutionContext,
  stepId: string,
  cp: LoopCheckpoint,
  box: ReadonlyMap<string, AgentTool>,
  saved: () => Promise<void>,
): Promise<void> {
  const pending = cp.pending ?? [];
  for (const [i, p] of pending.entries()) {
    if (!isToCall(p) || p.approval === 'waiting') continue;
    const tool = box.get(p.tool);
    const result: ToolResult = tool
      ? await callTool(tool, p.args, scopeOf(ctx, stepId, cp.turns, p))
      : { toolCallId: p.callId, content: `tool "${p.tool}" is no longer offered to this step`, isError: true };
    pending[i] = { callId: p.callId, result };
    await saved();
  }
}

/** A call's result for the model: a tool's own error (isError) comes back as one; a throw is the step's to retry. */
async function callTool(tool: AgentTool, args: unknown, scope: ToolCallScope): Promise<ToolResult> {
  const outcome = await tool.call(args ?? {}, scope);
  return { toolCallId: scope.callId, content: outcome.content, ...(outcome.isError ? { isError: true } : {}) };
}

/** A built-in runs at once, in this process; one that fails is the model's to handle (the answer it came with is kept either way). */
async function callBuiltin(tool: AgentTool, args: unknown, scope: ToolCallScope): Promise<ToolResult> {
  return callTool(tool, args, scope).catch((err: unknown) => ({
    toolCallId: scope.callId,
    content: `${tool.definition.name} failed: ${toError(err).message}`,
    isError: true,
  }));
}

function scopeOf(ctx: ExecutionContext, stepId: string, turn: number, call: { callId: string; index: number }): ToolCallScope {
  return {
    runId: ctx.runId,
    stepId,
    workspace: ctx.workspaceId,
    turn,
    callId: call.callId,
    idempotencyKey: `${ctx.runId}.${stepId}.${turn}.${call.index}`,
    signal: ctx.signal,
  };
}

function listed(names: readonly string[]): string {
  if (names.length === 0) return 'none';
  if (names.length === 1) return names[0]!;
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)!}`;
}
