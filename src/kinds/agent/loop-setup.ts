/**
 * What an agent step's tool loop offers: `delegate` when it delegates, and its toolbox (the
 * agent's `tools:`, plus `read_runs` for an orchestrator whose orchestration allows it).
 */
import type { ResolvedAgent } from '../../model/agent.js';
import { toolboxFor, type ToolSources } from '../../tools/toolbox.js';
import { READ_RUNS_TOOL } from '../../model/tool.js';
import type { CompiledStepOf } from '../definition.js';
import type { ExecutionContext } from '../executor.js';
import { allowedDelegates, delegateTool, type Delegation } from './delegation.js';
import type { LoopSetup } from './tool-loop.js';

export async function loopSetup(
  agent: ResolvedAgent,
  step: CompiledStepOf<'agent'>,
  delegation: Delegation,
  ctx: ExecutionContext,
  sources: ToolSources,
): Promise<LoopSetup> {
  const refs = [...agent.tools];
  // As before tools could be listed: an orchestrator reads recent runs unless told not to.
  if (delegation.active && delegation.limits.readRuns && !refs.includes(READ_RUNS_TOOL)) refs.push(READ_RUNS_TOOL);
  const box = await toolboxFor(refs, ctx.agents.toolCatalog, sources, {
    runId: ctx.runId,
    stepId: step.id,
    workspaceId: ctx.workspaceId,
    agentNames: ctx.agents.names(),
    attempt: ctx.attempt,
    bounds: ctx.bounds,
    publishes: ctx.publishes ?? null,
  });
  const offered = [
    ...(delegation.active
      ? [
          delegateTool(
            allowedDelegates(delegation, ctx).map((d) => ctx.agents.require(d)),
            ctx.route !== undefined,
          ),
        ]
      : []),
    ...[...box.values()].map((t) => t.definition),
  ];
  return { delegation: delegation.active ? delegation : null, box, offered, limits: delegation.limits };
}
