/** The compile rule of `kind: loop`: its agents, and `until` as an expression over `verdict` and `iteration`. */
import { checkAgent, type KindRule } from '../compile-rule.js';

/** The names a loop's `until` reads besides input and steps. */
export const UNTIL_VARS = ['verdict', 'iteration'] as const;

export const loopRule: KindRule<'loop'> = {
  templated: (def) => [{ at: 'body.input', value: def.body.input }, ...(def.critic.input ? [{ at: 'critic.input', value: def.critic.input }] : [])],
  check(def, ctx) {
    for (const part of ['body', 'critic'] as const) checkAgent(ctx, `${part}.agent`, def[part].agent);
    if (ctx.caps && def.maxIterations > ctx.caps.maxLoopIterations)
      ctx.issue(
        `${ctx.path}.maxIterations`,
        `${def.maxIterations} is above the limit of ${ctx.caps.maxLoopIterations} iterations (SWITCHYARD_MAX_LOOP_ITERATIONS; the default when omitted is 3)`,
      );
  },
  expressions: (def) => (def.until === undefined ? [] : [{ at: 'until', expr: def.until, vars: UNTIL_VARS }]),
  rendered: (step) => [{ at: 'body.input', value: step.body.input }, ...(step.critic.input ? [{ at: 'critic.input', value: step.critic.input }] : [])],
  schemas: () => [],
  compile: (def) => ({
    kind: 'loop',
    body: def.body,
    critic: def.critic,
    maxIterations: def.maxIterations,
    ...(def.until !== undefined ? { until: def.until } : {}),
  }),
};
