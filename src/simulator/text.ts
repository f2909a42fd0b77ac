/** How the simulator counts tokens, and the words of a generated answer. */
import type { Random } from './random.js';

/**
 * How many tokens the simulator counts for a text, at least one: a quarter token an ASCII
 * character, and one for each other character (as real tokenizers count CJK text: about one a
 * character).
 */
export const tokens = (s: string): number => {
  let ascii = 0;
  let other = 0;
  for (const ch of s) {
    if (ch.charCodeAt(0) < 0x80) ascii++;
    else other++;
  }
  return Math.max(1, Math.ceil(ascii / 4) + other);
};

export type TokenCounter = (text: string, model: string) => number;

const WORDS = (
  'the a queue worker step run agent model answer plan review draft check limit token budget result input output ' +
  'fast slow retry wait ready done graph edge node branch merge signal event stream batch'
).split(' ');

/** Words drawn from `random` until they count `n` tokens (`count` counts them). */
export function words(n: number, random: Random, count: (text: string) => number): string {
  let text = '';
  while (count(text) < n) text += `${text ? ' ' : ''}${WORDS[random.below(WORDS.length)]}`;
  return text;
}

/** `text` cut at the most characters that count at most `n` tokens. */
export function cutToTokens(text: string, n: number, count: (text: string) => number): string {
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (count(text.slice(0, mid)) <= n) lo = mid;
    else hi = mid - 1;
  }
  return text.slice(0, lo);
}
