/**
 * Whether a call of an MCP tool waits for a person: the tool's own rule (`toolApproval`), else
 * the server's (`approval`). A `{ when }` rule is parsed once, with the call's arguments as `args`.
 */
import type { McpServerSpec, ToolApproval } from '../../model/tool.js';
import { parseWhen } from '../../lang/expression.js';
import { evaluateWhen } from '../../lang/evaluate.js';
import { NonRetryableError, toError } from '../../errors/index.js';

export type ApprovalRule = (args: unknown) => boolean;

/** The rule of `tool` of `server`; a `when` that does not parse is an error naming the server and the tool. */
export function approvalRule(server: string, spec: McpServerSpec, tool: string): ApprovalRule {
  const approval: ToolApproval = Object.hasOwn(spec.toolApproval, tool) ? spec.toolApproval[tool]! : spec.approval;
  if (approval === 'never') return () => false;
  if (approval === 'required') return () => true;
  let parsed: ReturnType<typeof parseWhen>;
  try {
    parsed = parseWhen(approval.when, ['args']);
  } catch (err) {
    throw new NonRetryableError(`MCP server "${server}", tool "${tool}": approval when: ${toError(err).message}`);
  }
  return (args) => {
    try {
      return evaluateWhen(parsed, { input: {}, steps: {}, vars: { args } });
    } catch {
      // A rule that cannot be evaluated on these arguments asks a person rather than letting the call through.
      return true;
    }
  };
}
