/**
 * When two answers are one: a text normalised (case, whitespace, punctuation), a field of a
 * structured answer (`compare.field`), numbers within `numberTolerance`. A vote groups its
 * votes this way, and a join that waits for answers that agree (a vote's quorum,
 * src/flow/joins.ts) counts them this way.
 */
import { readPath } from '../../lang/templates.js';

/** How answers are compared (a vote's `compare`). */
export type Compare = { field?: string | undefined; numberTolerance?: number } | undefined;

/** Lower case, no punctuation, single spaces: "Yes." and " yes" are one answer. */
export const normaliseAnswer = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** What of an answer is compared: the field `compare.field` names, or the answer itself. */
export const comparedAnswer = (answer: unknown, compare: { field?: string | undefined } | undefined): unknown =>
  compare?.field ? readPath(answer, compare.field.split('.')) : answer;

/** The key an answer is grouped by (a text normalised), and whether two keys are one answer (numbers within `tolerance`). */
export const answerKey = (value: unknown): unknown => (typeof value === 'string' ? normaliseAnswer(value) : value);
export const sameAnswer = (a: unknown, b: unknown, tolerance: number): boolean =>
  typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) <= tolerance : JSON.stringify(a) === JSON.stringify(b);

/** The answers that agree, as groups of their indexes in first-seen order (normalised texts; numbers within the tolerance). */
export function groupAnswers(answers: readonly unknown[], compare: Compare): number[][] {
  const tolerance = compare?.numberTolerance ?? 0;
  const groups: { key: unknown; members: number[] }[] = [];
  answers.forEach((a, i) => {
    const key = answerKey(comparedAnswer(a, compare));
    const g = groups.find((x) => sameAnswer(key, x.key, tolerance));
    if (g) g.members.push(i);
    else groups.push({ key, members: [i] });
  });
  return groups.map((g) => g.members);
}

/** The size of the largest group of answers that agree (compared as a vote compares them). */
export function maxAgreeing(answers: readonly unknown[], compare: Compare): number {
  return groupAnswers(answers, compare).reduce((n, g) => Math.max(n, g.length), 0);
}
