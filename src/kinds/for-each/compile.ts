/** The compile rule of `kind: forEach`: `items` is one template, and the item's input may read `item` and `index`. */
import { isSingleTemplate } from '../../lang/templates.js';
import { checkAgent, type KindRule } from '../compile-rule.js';

/** The names a forEach's step input reads besides input and steps. */
export const ITEM_VARS = ['item', 'index'] as const;

export const forEachRule: KindRule<'forEach'> = {
  templated: (def) => [
    { at: 'items', value: def.items },
    { at: 'step.input', value: def.step.input, vars: ITEM_VARS },
  ],
  check(def, ctx) {
    checkAgent(ctx, 'step.agent', def.step.agent);
    if (ctx.caps && def.maxItems > ctx.caps.maxForEachItems)
      ctx.issue(
        `${ctx.path}.maxItems`,
        `${def.maxItems} is above the limit of ${ctx.caps.maxForEachItems} items (SWITCHYARD_MAX_FOREACH_ITEMS; the default when omitted is 100)`,
      );
    if (!isSingleTemplate(def.items))
      ctx.issue(`${ctx.path}.items`, 'must be one template giving a list, e.g. "{{ steps.<id>.output.<field> }}" or "{{ input.<field> }}"');
  },
  // Each item's input, rendered per item (`items` itself is read as a value, not rendered).
  rendered: (step) => [{ at: 'step.input', value: step.step.input }],
  schemas: (def) => (def.step.output ? [{ at: 'step.output.schema', schema: def.step.output.schema }] : []),
  compile: (def) => ({
    kind: 'forEach',
    items: def.items,
    step: { agent: def.step.agent, input: def.step.input, ...(def.step.output ? { outputSchema: def.step.output.schema } : {}) },
    maxItems: def.maxItems,
    truncate: def.truncate,
    stopWhenEmpty: def.stopWhenEmpty,
    ...(def.concurrency !== undefined ? { concurrency: def.concurrency } : {}),
  }),
};
