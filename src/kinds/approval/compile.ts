/**
 * The compile rule of `kind: approval`: `revise` needs the agent step under review (an
 * ancestor), its `rules` are expressions, and it takes the workflow's automation.
 */
import type { KindRule } from '../compile-rule.js';

export const approvalRule: KindRule<'approval'> = {
  templated: (def) => (def.input ? [{ at: 'input', value: def.input }] : []),
  check(def, ctx) {
    if (def.onReject === 'revise' && def.review === undefined)
      ctx.issue(`${ctx.path}.review`, 'onReject: revise needs review: the id of the agent step to revise');
  },
  reads: (def) => (def.review === undefined ? [] : [{ at: 'review', stepId: def.review }]),
  crossCheck(def, ctx) {
    const reviewed = def.review === undefined ? undefined : ctx.step(def.review);
    if (reviewed && reviewed.kind !== 'agent')
      ctx.issue(`${ctx.path}.review`, `the step under review must be an agent step; "${reviewed.id}" is a ${reviewed.kind} step`);
  },
  expressions: (def) => def.rules.map((expr, i) => ({ at: `rules[${i}]`, expr, vars: [] })),
  rendered: (step) => (step.input ? [{ at: 'input', value: step.input }] : []),
  schemas: () => [],
  compile: (def, workflow) => {
    const reviewed = def.review === undefined ? undefined : workflow.step(def.review);
    return {
      kind: 'approval',
      onTimeout: def.onTimeout,
      onReject: def.onReject,
      maxRevisions: def.maxRevisions,
      ...(reviewed?.kind === 'agent' ? { review: { stepId: reviewed.id, agent: reviewed.agent } } : {}),
      publish: def.publish,
      rules: def.rules,
      automation: workflow.automation,
      ...(def.input ? { input: def.input } : {}),
    };
  },
};
