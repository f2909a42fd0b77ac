/** The compile rule of `kind: merge`: the steps it merges, and a priority among them only. */
import { readsOfOrDeps, type KindRule } from '../compile-rule.js';

export const mergeRule: KindRule<'merge'> = {
  templated: () => [],
  check(def, ctx) {
    const of = def.of ?? def.dependsOn;
    if (of.length === 0) ctx.issue(`${ctx.path}.of`, 'name the steps to merge (of), or depend on them (dependsOn)');
    def.priority?.forEach((p, i) => {
      if (!of.includes(p)) ctx.issue(`${ctx.path}.priority[${i}]`, `"${p}" is not one of the steps merged (${of.join(', ')})`);
    });
  },
  reads: readsOfOrDeps,
  rendered: () => [],
  schemas: () => [],
  compile: (def) => {
    const of = def.of ?? def.dependsOn;
    const priority = [...new Set([...(def.priority ?? []), ...of])];
    return { kind: 'merge', of, priority };
  },
};
