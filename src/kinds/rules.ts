/**
 * The compile rule of each step kind, chosen in this one place (each is its folder's
 * compile.ts; the seam is compile-rule.ts). Typed over every kind of src/model/step-kind.ts,
 * so a new kind does not compile until it has a rule here.
 */
import type { StepKind } from './definition.js';
import type { KindRule } from './compile-rule.js';
import { agentRule } from './agent/compile.js';
import { loopRule } from './loop/compile.js';
import { forEachRule } from './for-each/compile.js';
import { planRule } from './plan/compile.js';
import { approvalRule } from './approval/compile.js';
import { voteRule } from './vote/compile.js';
import { concatRule } from './concat/compile.js';
import { mergeRule } from './merge/compile.js';
import { synthesizeRule } from './synthesize/compile.js';
import { httpRule } from './http/compile.js';

export const KIND_RULES: { [K in StepKind]: KindRule<K> } = {
  agent: agentRule,
  loop: loopRule,
  forEach: forEachRule,
  plan: planRule,
  approval: approvalRule,
  vote: voteRule,
  concat: concatRule,
  merge: mergeRule,
  synthesize: synthesizeRule,
  http: httpRule,
};

/** The compile rule of a step's kind. */
export function ruleOf<K extends StepKind>(kind: K): KindRule<K> {
  return KIND_RULES[kind];
}
