/**
 * A tool an agent step can call: the engine's built-ins, an HTTP tool, an MCP server's tool.
 * The agent step's tool loop (src/kinds/agent) offers `definition` to the model, checks and
 * runs each call through `call`, and records each result (`kind` http or mcp: before the next
 * call is made), so a delivery after a crash does not call a tool again for a recorded result.
 * `delegate` is not one of these: a delegation becomes a child step.
 */
import type { ToolDefinition } from '../calls/provider.js';

/** Where a call is made: the step's attempt and the call's place in its conversation. */
export interface ToolCallScope {
  runId: string;
  stepId: string;
  workspace: string;
  /** The model call (1, 2, ...) whose answer asked for it. */
  turn: number;
  /** The provider's id of the call. */
  callId: string;
  /** `<run>.<step>.<turn>.<call>`: sent as `Idempotency-Key`, the same on every delivery. */
  idempotencyKey: string;
  /** Aborted when the step is cancelled or times out. */
  signal: AbortSignal;
}

/** What a call came to, for the model: its result, or an error it decides what to do about. */
export interface ToolOutcome {
  content: string;
  isError?: boolean;
}

export interface AgentTool {
  /** As offered to the model: a valid, unique name, a description, the JSON Schema of its arguments. */
  definition: ToolDefinition;
  /** builtin: runs in the step's process; http and mcp act on the world outside. */
  kind: 'builtin' | 'http' | 'mcp';
  /** A call with these arguments waits for a person's approval before it runs. */
  needsApproval(args: unknown): boolean;
  /**
   * Makes the call. An error the model should see comes back as `{ isError: true }`; a throw
   * is for what the step's own retries are for (Redis down, the process shutting down).
   */
  call(args: unknown, scope: ToolCallScope): Promise<ToolOutcome>;
}

/** A secret of a workspace by name (`{{ secrets.NAME }}`), opened for one call; absent: undefined. */
export type SecretLookup = (workspace: string, name: string) => Promise<string | undefined>;
