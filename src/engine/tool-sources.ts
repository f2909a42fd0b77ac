/**
 * Where this process makes the tools agents' `tools:` name (src/tools/toolbox.ts): the
 * engine's built-ins, HTTP tools, MCP servers' tools. Each kind of tool plugs in here with one
 * line, from the process's resources (`system`: its store, its workspaces' secrets, what it
 * closes at shutdown); what a process is given (tests: `tools` of its pools' options) goes over
 * the defaults.
 */
import type { System } from '../system.js';
import type { ToolSources } from '../tools/toolbox.js';
import { READ_RUNS_TOOL, readRunsBuiltin, type ReadRuns } from '../tools/builtins/read-runs.js';

export function toolSources(_system: System, deps: { readRuns: ReadRuns }, given: Partial<ToolSources> = {}): ToolSources {
  const builtins = new Map([[READ_RUNS_TOOL, readRunsBuiltin(deps.readRuns)], ...(given.builtins ?? [])]);
  return { ...given, builtins };
}
