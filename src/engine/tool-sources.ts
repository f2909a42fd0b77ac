/**
 * Where this process makes the tools agents' `tools:` name (src/tools/toolbox.ts): the
 * engine's built-ins, HTTP tools, MCP servers' tools. Each kind of tool plugs in here with one
 * line, from the process's resources (`system`: its store, its workspaces' secrets, what it
 * closes at shutdown); what a process is given (tests: `tools` of its pools' options) goes over
 * the defaults.
 */
import type { System } from '../system.js';
import type { BuiltinTool, ToolSources } from '../tools/toolbox.js';
import { createBuiltins } from '../tools/builtins/index.js';
import { httpToolSource } from '../tools/http-source.js';
import { READ_RUNS_TOOL } from '../model/tool.js';
import { readRunsBuiltin, type ReadRuns } from '../tools/builtins/read-runs.js';

export function toolSources(system: System, deps: { readRuns: ReadRuns }, given: Partial<ToolSources> = {}): ToolSources {
  const { store } = system.engine;
  const builtins = new Map<string, BuiltinTool>([
    [READ_RUNS_TOOL, readRunsBuiltin(deps.readRuns)],
    ...createBuiltins({ outputs: store.outputs, drafts: store.drafts, scopeOf: (ws) => system.scope(ws) }),
    ...(given.builtins ?? []),
  ]);
  return {
    http: httpToolSource({ egress: system.opts.egress, secrets: system.engine.secrets.lookup }),
    mcp: (ref, workspace) => system.mcp.tools(ref, workspace),
    ...given,
    builtins,
  };
}
