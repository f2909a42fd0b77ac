/** The compile rule of `kind: vote`: a question and its voters (a quorum at most their number), or `of`, never both. */
import { checkAgent, type KindRule } from '../compile-rule.js';

export const voteRule: KindRule<'vote'> = {
  templated: (def) => (def.question ? [{ at: 'question', value: def.question }] : []),
  check(def, ctx) {
    if (def.of) {
      for (const f of ['question', 'voters', 'quorum'] as const)
        if (def[f] !== undefined) ctx.issue(`${ctx.path}.${f}`, `a vote over the outputs of steps (of) asks no one: leave out ${f}`);
      return;
    }
    if (!def.voters || !def.question) {
      ctx.issue(
        `${ctx.path}.${def.voters ? 'question' : 'voters'}`,
        'a vote needs a question and its voters (at least 2), or `of`: the steps whose outputs are the votes',
      );
      return;
    }
    def.voters.forEach((v, i) => checkAgent(ctx, `voters[${i}].agent`, v.agent));
    if (def.quorum !== undefined && def.quorum > def.voters.length)
      ctx.issue(`${ctx.path}.quorum`, `a quorum of ${def.quorum} needs at least ${def.quorum} voters; there are ${def.voters.length}`);
  },
  reads: (def) => (def.of ?? []).map((stepId, i) => ({ at: `of[${i}]`, stepId })),
  rendered: (step) => (step.question ? [{ at: 'question', value: step.question }] : []),
  schemas: () => [],
  compile: (def) => ({
    kind: 'vote',
    ...(def.question ? { question: def.question } : {}),
    voters: def.voters ?? [],
    ...(def.of ? { of: def.of } : {}),
    minAgreement: def.minAgreement,
    ...(def.compare ? { compare: def.compare } : {}),
    ...(def.quorum !== undefined ? { quorum: def.quorum } : {}),
  }),
};
