/**
 * `approval:` of a tool (src/model/tool.ts ToolApproval) as the `needsApproval(args)` of its
 * AgentTool: `never`, `required`, or `{ when }` over the call's arguments (`args.amount > 100`),
 * in the workflow `when` language (parsed once, when the tool is made; no eval).
 */
import { evaluateWhen } from '../lang/evaluate.js';
import { parseWhen } from '../lang/expression.js';
import type { ToolApproval } from '../model/tool.js';

export function approvalRule(approval: ToolApproval): (args: unknown) => boolean {
  if (approval === 'never') return () => false;
  if (approval === 'required') return () => true;
  const parsed = parseWhen(approval.when, ['args']);
  return (args) => evaluateWhen(parsed, { input: {}, steps: {}, vars: { args } });
}
