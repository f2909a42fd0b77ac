/**
 * An agent step's toolbox: the AgentTools its agent's `tools:` names (src/model/tool.ts
 * ToolRef), each made by its source. The sources are given by whoever builds the executors
 * (src/engine/tool-sources.ts): the engine's built-ins by name, a maker of HTTP tools, a maker of
 * an MCP server's tools. A source not given offers nothing, so a kind of tool not yet built in
 * this process is simply not offered.
 */
import { NonRetryableError } from '../errors/index.js';
import { BUILTIN_TOOLS, DELEGATE_TOOL, toolRefProblem, type HttpToolSpec, type ToolCatalog } from '../model/tool.js';
import type { AgentTool } from './tool.js';
import type { BuiltinStep } from './builtins/deps.js';

/**
 * The step a tool is made for (a built-in may act on its run: its context, its outputs; what
 * the built-ins of src/tools/builtins read of it is their BuiltinStep).
 */
export interface ToolContext extends BuiltinStep {
  runId: string;
  stepId: string;
  workspaceId: string;
  /** The agents the step's workspace sees. */
  agentNames: readonly string[];
}

/** A built-in: the tool made for one step. */
export type BuiltinTool = (ctx: ToolContext) => AgentTool;

export interface ToolSources {
  /** The engine's own tools by name (`read_runs`, `emit_output`, `publish_context`). */
  builtins: ReadonlyMap<string, BuiltinTool>;
  /** An HTTP tool of the agents file. */
  http?: (name: string, spec: HttpToolSpec) => AgentTool;
  /** The tools `ref` names of an MCP server (`<server>`: all of them, or `<server>/<tool>`), for a workspace (src/tools/mcp McpPool). */
  mcp?: (ref: string, workspace: string) => Promise<AgentTool[]>;
}

export const NO_TOOL_SOURCES: ToolSources = { builtins: new Map() };

/**
 * The tools `refs` name, by the name the model sees. A ref the catalog no longer has (a
 * workspace agent whose tool left the agents file) or two tools offered under one name fail
 * the step: the same step would fail again.
 */
export async function toolboxFor(refs: readonly string[], catalog: ToolCatalog, sources: ToolSources, ctx: ToolContext): Promise<Map<string, AgentTool>> {
  const box = new Map<string, AgentTool>();
  const from = new Map<string, string>();
  const offer = (ref: string, tool: AgentTool) => {
    const name = tool.definition.name;
    const clash = name === DELEGATE_TOOL ? 'delegate (the engine’s own)' : from.get(name);
    if (clash !== undefined) throw new NonRetryableError(`two tools are offered as "${name}": from ${clash} and from ${ref}; rename one`);
    box.set(name, tool);
    from.set(name, ref);
  };
  for (const ref of refs) {
    const problem = toolRefProblem(ref, catalog);
    if (problem) throw new NonRetryableError(`the agent's tools: ${problem}`);
    for (const tool of await toolsOf(ref, catalog, sources, ctx)) offer(ref, tool);
  }
  return box;
}

async function toolsOf(ref: string, catalog: ToolCatalog, sources: ToolSources, ctx: ToolContext): Promise<AgentTool[]> {
  if ((BUILTIN_TOOLS as readonly string[]).includes(ref)) {
    const make = sources.builtins.get(ref);
    return make ? [make(ctx)] : [];
  }
  const http = catalog.tools[ref];
  if (http) return sources.http ? [sources.http(ref, http)] : [];
  return sources.mcp ? sources.mcp(ref, ctx.workspaceId) : [];
}
