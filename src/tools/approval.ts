/**
 * `approval:` of a tool (src/model/tool.ts ToolApproval) as the `needsApproval(args)` of its
 * AgentTool: `never`, `required`, or `{ when }` over the call's arguments (`args.amount > 100`),
 * in the workflow `when` language (parsed once, when the tool is made; no eval). A rule that
 * cannot be evaluated on a call's arguments asks a person rather than letting the call through.
 */
import { NonRetryableError, toError } from '../errors/index.js';
import { evaluateWhen } from '../lang/evaluate.js';
import { parseWhen } from '../lang/expression.js';
import type { McpServerSpec, ToolApproval } from '../model/tool.js';

export type ApprovalRule = (args: unknown) => boolean;

/** The rule of `approval`; a `when` that does not parse is an error naming `what` (the tool). */
export function approvalRule(approval: ToolApproval, what: string): ApprovalRule {
  if (approval === 'never') return () => false;
  if (approval === 'required') return () => true;
  let parsed: ReturnType<typeof parseWhen>;
  try {
    parsed = parseWhen(approval.when, ['args']);
  } catch (err) {
    throw new NonRetryableError(`${what}: approval when: ${toError(err).message}`);
  }
  return (args) => {
    try {
      return evaluateWhen(parsed, { input: {}, steps: {}, vars: { args } });
    } catch {
      return true;
    }
  };
}

/** The rule of an MCP server's tool: the tool's own (`toolApproval`), else the server's (`approval`). */
export function mcpApprovalRule(server: string, spec: McpServerSpec, tool: string): ApprovalRule {
  const approval = Object.hasOwn(spec.toolApproval, tool) ? spec.toolApproval[tool]! : spec.approval;
  return approvalRule(approval, `MCP server "${server}", tool "${tool}"`);
}
