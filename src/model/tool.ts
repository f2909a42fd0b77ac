/**
 * Tools an agent can call besides the engine's own (`delegate`, `read_runs`, `emit_output`,
 * `publish_context`): HTTP tools and MCP servers, declared once in the agents file and given to
 * agents by name. These are the schemas; what runs a call is in `src/tools`.
 */
import { z } from 'zod';

/** A tool name as the model sees it: the providers' common rule (OpenAI and Anthropic). */
export const ToolName = z.string().regex(/^[a-zA-Z][a-zA-Z0-9_-]{0,63}$/, 'must be letters, digits, "_" or "-", starting with a letter, at most 64');

/** An MCP server's name in the agents file (its tools are offered as `<server>_<tool>`, made valid and unique). */
export const ServerName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be lowercase letters, digits, "_" or "-", starting with a letter, at most 32');

/**
 * Whether a call waits for a person's decision before it runs: `never` (the default),
 * `required` (every call), or `{ when }`: calls whose arguments make the expression true
 * (the workflow `when` language, with the arguments as `args`, e.g. `args.amount > 100`).
 */
export const ToolApproval = z.union([z.literal('never'), z.literal('required'), z.object({ when: z.string().min(1) }).strict()]);
export type ToolApproval = z.infer<typeof ToolApproval>;

/** Header values and URLs may hold `{{ secrets.NAME }}`: a secret of the step's workspace, filled in at call time. */
const Templated = z.string().min(1);

export const HttpToolSpec = z
  .object({
    description: z.string().min(1),
    http: z
      .object({
        url: Templated,
        method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
        headers: z.record(z.string().min(1), z.string()).default({}),
        /** A call longer than this is aborted (and retried as a network error). Default 30000. */
        timeoutMs: z.number().int().positive().max(600_000).default(30_000),
        /** Most bytes of a response kept as the result; a longer one is cut and says so. Default 65536. */
        maxResultBytes: z.number().int().positive().max(10_000_000).default(65_536),
        /** Tries of one call on a network error or a 5xx, the first included. Default 3. */
        attempts: z.number().int().min(1).max(10).default(3),
      })
      .strict(),
    /** JSON Schema of the arguments (an object); the model's arguments are checked against it. */
    input: z.record(z.string(), z.unknown()).default({ type: 'object', properties: {} }),
    approval: ToolApproval.default('never'),
  })
  .strict();
export type HttpToolSpec = z.infer<typeof HttpToolSpec>;

export const McpServerSpec = z.union([
  z
    .object({
      command: z.string().min(1),
      args: z.array(z.string()).default([]),
      /** Values may hold `{{ secrets.NAME }}` (one server process per workspace then). */
      env: z.record(z.string().min(1), z.string()).default({}),
      cwd: z.string().optional(),
      approval: ToolApproval.default('never'),
      /** Per tool of the server, overriding `approval`. */
      toolApproval: z.record(z.string(), ToolApproval).default({}),
      timeoutMs: z.number().int().positive().max(600_000).default(60_000),
    })
    .strict(),
  z
    .object({
      url: z.url(),
      /** Values may hold `{{ secrets.NAME }}`. */
      headers: z.record(z.string().min(1), z.string()).default({}),
      approval: ToolApproval.default('never'),
      toolApproval: z.record(z.string(), ToolApproval).default({}),
      timeoutMs: z.number().int().positive().max(600_000).default(60_000),
    })
    .strict(),
]);
export type McpServerSpec = z.infer<typeof McpServerSpec>;

/**
 * What an agent's `tools:` list names: an HTTP tool of the agents file, a built-in
 * (`emit_output`, `publish_context`, `read_runs`), an MCP server (all its tools), or one tool of
 * a server as `<server>/<tool>`.
 */
export const ToolRef = z.string().regex(/^[a-zA-Z][a-zA-Z0-9_-]{0,63}(\/[^\s/]{1,128})?$/, 'must name a tool, a built-in, an MCP server, or <server>/<tool>');

/** The engine's own tools an agent may list in `tools:` (each a built-in AgentTool: src/tools/builtins). */
export const READ_RUNS_TOOL = 'read_runs';
export const EMIT_OUTPUT_TOOL = 'emit_output';
export const PUBLISH_CONTEXT_TOOL = 'publish_context';
export const BUILTIN_TOOLS = [READ_RUNS_TOOL, EMIT_OUTPUT_TOOL, PUBLISH_CONTEXT_TOOL] as const;
/** Offered to an agent with `delegates`; no tool may take its name. */
export const DELEGATE_TOOL = 'delegate';

/** The HTTP tools and MCP servers of an agents file: what an agent's `tools:` may name. */
export interface ToolCatalog {
  tools: Readonly<Record<string, HttpToolSpec>>;
  mcpServers: Readonly<Record<string, McpServerSpec>>;
}

export const EMPTY_TOOL_CATALOG: ToolCatalog = { tools: {}, mcpServers: {} };

/** What is wrong with a `tools:` entry of an agent against `catalog` (null: it names something there). */
export function toolRefProblem(ref: string, catalog: ToolCatalog): string | null {
  const slash = ref.indexOf('/');
  if (slash >= 0) {
    const server = ref.slice(0, slash);
    return catalog.mcpServers[server] ? null : `"${ref}" names MCP server "${server}", which is not in mcpServers (${known(Object.keys(catalog.mcpServers))})`;
  }
  if ((BUILTIN_TOOLS as readonly string[]).includes(ref) || catalog.tools[ref] || catalog.mcpServers[ref]) return null;
  return `unknown tool "${ref}": not a built-in (${BUILTIN_TOOLS.join(', ')}), an HTTP tool of tools (${known(Object.keys(catalog.tools))}) nor an MCP server of mcpServers (${known(Object.keys(catalog.mcpServers))})`;
}

/** Names of the catalog that would make an agent's tools ambiguous: an HTTP tool named as a built-in, `delegate` or an MCP server. */
export function catalogClashes(catalog: ToolCatalog): { path: string[]; message: string }[] {
  const reserved = new Set<string>([...BUILTIN_TOOLS, DELEGATE_TOOL]);
  return Object.keys(catalog.tools).flatMap((name) => {
    if (reserved.has(name)) return [{ path: ['tools', name], message: `"${name}" is the name of a tool of the engine's own; give the HTTP tool another name` }];
    if (catalog.mcpServers[name])
      return [{ path: ['tools', name], message: `"${name}" is also an MCP server of mcpServers: an agent's tools: could not tell them apart` }];
    return [];
  });
}

const known = (names: string[]) => (names.length ? names.join(', ') : 'none');
