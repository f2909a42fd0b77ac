/**
 * Where this process makes the tools agents' `tools:` name (src/tools/toolbox.ts): the
 * engine's built-ins, HTTP tools, MCP servers' tools. Each kind of tool plugs in here with one
 * line; what a process is given (tests: `tools` of its pools' options) goes over the defaults.
 */
import type { ToolSources } from '../tools/toolbox.js';
import { READ_RUNS_TOOL, readRunsBuiltin, type ReadRuns } from '../tools/builtins/read-runs.js';

export function toolSources(deps: { readRuns: ReadRuns }, given: Partial<ToolSources> = {}): ToolSources {
  const builtins = new Map([[READ_RUNS_TOOL, readRunsBuiltin(deps.readRuns)], ...(given.builtins ?? [])]);
  return { ...given, builtins };
}
