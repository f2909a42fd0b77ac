/**
 * One tool of an MCP server as an agent's tool (kind `mcp`): offered under its valid, unique
 * name with the server's description and input schema; a call goes through the server's slot
 * with the spec's timeout and the step's signal. What the model should hear about comes back
 * as an error outcome: the server's own error result, a refused call, a timeout, a connection
 * that closed during the call (each of the last two says the call may have run: it is not made
 * again). A throw is left for the step's retries: the server could not be started or reached,
 * the process is shutting down, the step was cancelled.
 */
import { McpError, ErrorCode, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { AgentTool, ToolCallScope, ToolOutcome } from '../tool.js';
import { SwitchyardError, toError } from '../../errors/index.js';
import type { ServerSlot } from './slot.js';
import type { ApprovalRule } from '../approval.js';
import { toOutcome } from './outcome.js';

export function mcpTool(slot: ServerSlot, tool: Tool, offeredName: string, needsApproval: ApprovalRule): AgentTool {
  const server = slot.server;
  const description = tool.description ?? tool.title ?? `${tool.name} (a tool of MCP server ${server})`;
  return {
    definition: { name: offeredName, description, inputSchema: tool.inputSchema },
    kind: 'mcp',
    needsApproval,
    async call(args: unknown, scope: ToolCallScope): Promise<ToolOutcome> {
      if (typeof args !== 'object' || args === null || Array.isArray(args)) {
        return { content: `the arguments of ${offeredName} must be a JSON object`, isError: true };
      }
      try {
        const result = await slot.call(tool.name, args as Record<string, unknown>, { signal: scope.signal, timeoutMs: slot.spec.timeoutMs });
        return toOutcome(result);
      } catch (err) {
        if (scope.signal.aborted || err instanceof SwitchyardError) throw err;
        return { content: failure(server, tool.name, err, slot.spec.timeoutMs), isError: true };
      }
    },
  };
}

/** What the model is told about a call that failed after it was sent. */
function failure(server: string, tool: string, err: unknown, timeoutMs: number): string {
  const what = `MCP server "${server}", tool "${tool}"`;
  if (err instanceof McpError) {
    if (err.code === Number(ErrorCode.RequestTimeout)) return `${what}: no answer within ${timeoutMs} ms; the call may have run (it was not made again)`;
    if (err.code === Number(ErrorCode.ConnectionClosed)) {
      return `${what}: the server closed the connection during the call; the call may have run (it was not made again; the server is started again on the next call)`;
    }
    return `${what}: ${err.message}`;
  }
  return `${what}: the call failed and may have run (it was not made again): ${toError(err).message}`;
}
