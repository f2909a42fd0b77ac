/**
 * A vote's tally: its votes grouped by answer (compared as shared/agreement.ts compares them),
 * each weighing confidence × its agent's `authority`. The output says whether there is
 * consensus (the winning group's share of the weight ≥ `minAgreement`), the winning answer,
 * the agreement, every vote and the groups, and for numeric answers the weighted score
 * Σ(answer·confidence·authority) / Σ(confidence·authority).
 */
import type { CompiledStepOf } from '../definition.js';
import { comparedAnswer, groupAnswers } from '../shared/agreement.js';

export interface Vote {
  step: string;
  agent: string;
  answer: unknown;
  confidence: number;
  rationale: string;
  weight: number;
}

export interface VoteGroup {
  answer: unknown;
  weight: number;
  share: number;
  steps: string[];
}

export function tally(votes: readonly Vote[], step: Pick<CompiledStepOf<'vote'>, 'minAgreement' | 'compare'>) {
  const compared = votes.map((v) => comparedAnswer(v.answer, step.compare));
  const groups = groupAnswers(
    votes.map((v) => v.answer),
    step.compare,
  ).map((members) => ({
    answer: votes[members[0]!]!.answer,
    weight: members.reduce((n, i) => n + votes[i]!.weight, 0),
    steps: members.map((i) => votes[i]!.step),
  }));
  const total = groups.reduce((n, g) => n + g.weight, 0);
  // All confidences 0: every vote counts the same.
  const share = (g: (typeof groups)[number]) => (total > 0 ? g.weight / total : g.steps.length / votes.length);
  const ranked: VoteGroup[] = groups.map((g) => ({ answer: g.answer, weight: g.weight, share: share(g), steps: g.steps })).sort((a, b) => b.share - a.share);
  const top = ranked[0]!;
  const tie = ranked.length > 1 && ranked[1]!.share === top.share;
  const numeric = compared.every((x) => typeof x === 'number');
  const weightSum = votes.reduce((n, v) => n + v.weight, 0);
  return {
    consensus: !tie && top.share >= step.minAgreement,
    winningResult: tie ? null : top.answer,
    agreement: top.share,
    minAgreement: step.minAgreement,
    votes,
    groups: ranked,
    ...(numeric && weightSum > 0 ? { weightedScore: votes.reduce((n, v, i) => n + (compared[i] as number) * v.weight, 0) / weightSum } : {}),
  };
}
