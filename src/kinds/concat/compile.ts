/** The compile rule of `kind: concat`: the steps it reads, named (`of`) or depended on. */
import { readsOfOrDeps, type KindRule } from '../compile-rule.js';

export const concatRule: KindRule<'concat'> = {
  templated: () => [],
  check(def, ctx) {
    if (!def.of && def.dependsOn.length === 0) ctx.issue(`${ctx.path}.of`, 'name the steps to concatenate (of), or depend on them (dependsOn)');
  },
  reads: readsOfOrDeps,
  rendered: () => [],
  schemas: () => [],
  compile: (def) => ({ kind: 'concat', of: def.of ?? def.dependsOn, as: def.as }),
};
