/**
 * What a model's tokens cost: a price table by model name prefix (the longest prefix that
 * matches a reported model name wins, so `claude-haiku-4-5-20251001` is priced as
 * `claude-haiku-4-5`, `claude-sonnet-4-6` as `claude-sonnet-4`), shipped defaults for current
 * Anthropic and OpenAI models, overridden or extended by `pricing:` in the agents file. A
 * prefix that ends in a version number does not match a later version of it: `gpt-5` prices
 * `gpt-5-2025-08-07` but not `gpt-5.4` (a newer model, at its own price: unknown until priced,
 * rather than priced as another). Prices are USD per million tokens, as the providers published
 * them (list prices, no batch or cache discounts: cached input is priced as input, which
 * overstates a cached prompt's cost).
 */
import { ModelPrice } from '../model/price.js';
import type { Usage } from '../model/run.js';

export { ModelPrice };

const p = (inputPerMTok: number, outputPerMTok: number): ModelPrice => ({ inputPerMTok, outputPerMTok });

/**
 * List prices (USD per million tokens) by model prefix, as the providers published them when
 * this table was last refreshed (December 2026). Models not here (newer families: Claude 5,
 * GPT-5.3 and later, and any on other servers) have no price until `pricing:` gives one.
 */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  echo: p(0, 0),
  // Anthropic: Opus 4.5 and 4.6 at $5/$25; Opus 4.0 and 4.1 at $15/$75 (and, until priced, the later 4.x).
  'claude-opus-4-6': p(5, 25),
  'claude-opus-4-5': p(5, 25),
  'claude-opus-4': p(15, 75),
  'claude-sonnet-4': p(3, 15),
  'claude-3-7-sonnet': p(3, 15),
  'claude-haiku-4-5': p(1, 5),
  'claude-3-5-haiku': p(0.8, 4),
  // OpenAI
  'gpt-5.2': p(1.75, 14),
  'gpt-5.1': p(1.25, 10),
  'gpt-5-pro': p(15, 120),
  'gpt-5-nano': p(0.05, 0.4),
  'gpt-5-mini': p(0.25, 2),
  'gpt-5': p(1.25, 10),
  'gpt-4.1-nano': p(0.1, 0.4),
  'gpt-4.1-mini': p(0.4, 1.6),
  'gpt-4.1': p(2, 8),
  'gpt-4o-mini': p(0.15, 0.6),
  'gpt-4o': p(2.5, 10),
  'o4-mini': p(1.1, 4.4),
  'o3-pro': p(20, 80),
  'o3-mini': p(1.1, 4.4),
  o3: p(2, 8),
  'o1-pro': p(150, 600),
  'o1-mini': p(1.1, 4.4),
  o1: p(15, 60),
};

/**
 * Whether `prefix` prices `model`: a prefix of it that does not end inside a version number,
 * nor leave out a `-pro` tier (priced about ten times its base: unpriced rather than priced low).
 */
function covers(prefix: string, model: string): boolean {
  if (!model.startsWith(prefix)) return false;
  const rest = model.slice(prefix.length);
  // `gpt-5` is not `gpt-5.4`, nor `gpt-4.1` `gpt-4.10`: a number goes on after a digit.
  if (/\d$/.test(prefix) && /^(\d|\.\d)/.test(rest)) return false;
  return !/(^|-)pro(-|$)/.test(rest);
}

export class PriceTable {
  private readonly entries: [string, ModelPrice][];

  constructor(overrides: Readonly<Record<string, ModelPrice>> = {}) {
    this.entries = Object.entries({ ...DEFAULT_PRICES, ...overrides }).sort((a, b) => b[0].length - a[0].length);
  }

  /** The price of `model` (longest matching prefix), or undefined when none is known. */
  priceOf(model: string): ModelPrice | undefined {
    return this.entries.find(([prefix]) => covers(prefix, model))?.[1];
  }

  /** `usage` with its cost, when the model's price is known. */
  withCost(usage: Usage | null | undefined, model: string | null | undefined): Usage | null {
    if (!usage) return null;
    const price = model ? this.priceOf(model) : undefined;
    if (!price) return usage;
    const costUsd = (usage.inputTokens * price.inputPerMTok + usage.outputTokens * price.outputPerMTok) / 1_000_000;
    return { ...usage, costUsd: Math.round(costUsd * 1e8) / 1e8 };
  }
}
