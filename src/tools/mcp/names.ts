/**
 * The names an MCP server's tools are offered to the model under: `<server>_<tool>`, made
 * valid for the providers (ToolName: letters, digits, `_` and `-`, starting with a letter, at
 * most 64) and unique among the server's tools. The same list of tools always gets the same
 * names (the server's order decides which one gets a suffix).
 */
const MAX = 64;

/** `<server>_<tool>` with every other character made `_`, cut to 64 (a server name starts with a letter). */
export function toolName(server: string, tool: string): string {
  const raw = `${server}_${tool}`.replace(/[^a-zA-Z0-9_-]/g, '_');
  return /^[a-zA-Z]/.test(raw) ? raw.slice(0, MAX) : `t${raw}`.slice(0, MAX);
}

/** `name`, or `name` cut to make room for `_2`, `_3`... so that it is not in `taken`; added to `taken`. */
export function uniqueName(name: string, taken: Set<string>): string {
  let unique = name;
  for (let n = 2; taken.has(unique); n++) {
    const suffix = `_${n}`;
    unique = name.slice(0, MAX - suffix.length) + suffix;
  }
  taken.add(unique);
  return unique;
}

/** The offered name of each of a server's tools, by the tool's own name, in the server's order. */
export function offeredNames(server: string, tools: readonly string[]): Map<string, string> {
  const taken = new Set<string>();
  return new Map(tools.map((tool) => [tool, uniqueName(toolName(server, tool), taken)]));
}
