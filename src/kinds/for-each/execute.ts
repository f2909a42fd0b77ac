/**
 * `kind: forEach`: fan a step template out over a list, run by the engine on its control
 * queue. The list is the value of `items` (one template; a JSON text is parsed), at most
 * `maxItems` (beyond it: fail, or the first `maxItems` with `truncate`). Each item becomes a
 * child step `<id>.<index>` on `step.agent`, its input rendered with `{{item}}` and
 * `{{index}}`; with `concurrency` c, item i also depends on item i − c, so c lanes run side by
 * side and at most c items run at once. The step waits for them without a worker slot, then
 * answers with their outputs in item order. An empty list ends the step `skipped` with the
 * reason, or, with `stopWhenEmpty`, the whole run early as `succeeded`.
 *
 * The children are derived from the list alone, so a delivery after a crash adds the same
 * ids again, which adds nothing.
 */
import { NonRetryableError, toError } from '../../errors/index.js';
import type { CompiledStepOf, StepInput } from '../definition.js';
import { listOf, resolveTemplateValue, type TemplateScope } from '../../lang/templates.js';
import { agentChild, type ChildStep, type StepExecutor } from '../executor.js';
import { renderWith, scopeOf } from '../shared/scope.js';

export function forEachExecutor(): StepExecutor<'forEach'> {
  return {
    async execute(step, ctx) {
      const scope = scopeOf(ctx);
      const all = itemsOf(step, scope);
      if (all.length === 0) return { type: 'skipped', reason: `${step.items} is an empty list`, stopRun: step.stopWhenEmpty };
      if (all.length > step.maxItems && !step.truncate) {
        throw new NonRetryableError(
          `${step.items} has ${all.length} items; at most maxItems ${step.maxItems} (truncate: true takes the first ${step.maxItems})`,
        );
      }
      const items = all.slice(0, step.maxItems);
      const ids = items.map((_, i) => `${step.id}.${i}`);
      if (!ctx.resumed) {
        const children = items.map((item, index) => child(step, ids, renderWith(step.step.input, scope, 'the input of an item', { item, index }), index));
        await ctx.addSteps(children);
        ctx.progress({ items: items.length, ...(all.length > items.length ? { truncatedFrom: all.length } : {}) });
        return { type: 'wait' };
      }
      const records = new Map((await ctx.steps(ids)).map((r) => [r.stepId, r]));
      const outputs = ids.map((id) => {
        const r = records.get(id);
        // Children are required unless the forEach is optional: then a failed item is null.
        return r?.status === 'succeeded' ? r.output : null;
      });
      const failed = ids.filter((id) => records.get(id)?.status !== 'succeeded');
      return {
        type: 'succeeded',
        output: outputs,
        event: { items: items.length, ...(failed.length ? { failedItems: failed } : {}), ...(all.length > items.length ? { truncatedFrom: all.length } : {}) },
      };
    },
  };
}

/** The list `items` gives: an array, or a JSON text of one. */
function itemsOf(step: CompiledStepOf<'forEach'>, scope: TemplateScope): unknown[] {
  let value: unknown;
  try {
    value = resolveTemplateValue(step.items, scope);
  } catch (err) {
    throw new NonRetryableError(`could not read items ${step.items}: ${toError(err).message}`);
  }
  const list = listOf(value);
  if (!list)
    throw new NonRetryableError(`items ${step.items} is not a list (it is ${typeof value === 'string' ? 'a text that holds no JSON list' : typeof value})`);
  return list;
}

function child(step: CompiledStepOf<'forEach'>, ids: string[], input: StepInput, index: number): ChildStep {
  const lane = step.concurrency !== undefined && index >= step.concurrency ? [ids[index - step.concurrency]!] : [];
  // A lane orders its items; a failed or skipped item does not stop the next one.
  return agentChild(ids[index]!, step.step.agent, input, {
    dependsOn: lane,
    allowSkippedDeps: true,
    ...(step.step.outputSchema ? { outputSchema: step.step.outputSchema } : {}),
  });
}
