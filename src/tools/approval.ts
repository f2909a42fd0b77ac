/**
 * A tool's `approval` as a rule over a call's arguments: `never`, `required`, or `{ when }` (the
 * workflow `when` language with the arguments as `args`, e.g. `args.amount > 100`), parsed once
 * when the tool is made, so a bad rule is refused when the agents file is loaded.
 */
import { evaluateWhen } from '../lang/evaluate.js';
import { parseWhen } from '../lang/expression.js';
import type { ToolApproval } from '../model/tool.js';

/** Whether a call with `args` waits for a person's decision. A rule that cannot be evaluated asks for one. */
export function approvalRule(approval: ToolApproval): (args: unknown) => boolean {
  if (approval === 'never') return () => false;
  if (approval === 'required') return () => true;
  const parsed = parseWhen(approval.when, ['args']);
  return (args) => {
    try {
      return evaluateWhen(parsed, { input: {}, steps: {}, vars: { args } });
    } catch {
      return true;
    }
  };
}
