/**
 * What a model's tokens cost: a price table by model name prefix (the longest prefix that
 * matches a reported model name wins, so `claude-haiku-4-5-20251001` is priced as
 * `claude-haiku-4-5`, `claude-sonnet-4-6` as `claude-sonnet-4`), shipped defaults for current
 * Anthropic and OpenAI models, overridden or extended by `pricing:` in the agents file. A
 * prefix that ends in a version number does not match a later version of it: `gpt-5` prices
 * `gpt-5-2025-08-07` but not `gpt-5.4` (a newer model, at its own price: unknown until priced,
 * rather than priced as another). Prices are USD per million tokens, as the providers published
 * them (list prices, no batch discounts). Prompt-cache tokens have their own rates: a read
 * about a tenth of the input price (Anthropic, GPT-5; a quarter or a half on older OpenAI
 * models), an Anthropic cache write 1.25 × input (a 5-minute cache); OpenAI charges no write.
 * A price without cache rates (one of `pricing:` that gives none) prices them as input.
 */
import { ModelPrice } from '../model/price.js';
import type { Usage } from '../model/run.js';

export { ModelPrice };

/** A price, with its cache read and write rates as multiples of the input price. */
const p = (inputPerMTok: number, outputPerMTok: number, read = 1, write = 1): ModelPrice => ({
  inputPerMTok,
  outputPerMTok,
  cacheReadPerMTok: Math.round(inputPerMTok * read * 1e6) / 1e6,
  cacheWritePerMTok: Math.round(inputPerMTok * write * 1e6) / 1e6,
});
/** Anthropic: a cache read 0.1 × input, a write (5-minute cache) 1.25 ×. */
const claude = (i: number, o: number) => p(i, o, 0.1, 1.25);

/**
 * List prices (USD per million tokens) by model prefix, as the providers published them when
 * this table was last refreshed (December 2026). Models not here (newer families: Claude 5,
 * GPT-5.3 and later, and any on other servers) have no price until `pricing:` gives one.
 */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  echo: p(0, 0),
  // Anthropic: Opus 4.5 and 4.6 at $5/$25; Opus 4.0 and 4.1 at $15/$75 (and, until priced, the later 4.x).
  'claude-opus-4-6': claude(5, 25),
  'claude-opus-4-5': claude(5, 25),
  'claude-opus-4': claude(15, 75),
  'claude-sonnet-4': claude(3, 15),
  'claude-3-7-sonnet': claude(3, 15),
  'claude-haiku-4-5': claude(1, 5),
  'claude-3-5-haiku': claude(0.8, 4),
  // OpenAI
  'gpt-5.2': p(1.75, 14, 0.1),
  'gpt-5.1': p(1.25, 10, 0.1),
  'gpt-5-pro': p(15, 120),
  'gpt-5-nano': p(0.05, 0.4, 0.1),
  'gpt-5-mini': p(0.25, 2, 0.1),
  'gpt-5': p(1.25, 10, 0.1),
  'gpt-4.1-nano': p(0.1, 0.4, 0.25),
  'gpt-4.1-mini': p(0.4, 1.6, 0.25),
  'gpt-4.1': p(2, 8, 0.25),
  'gpt-4o-mini': p(0.15, 0.6, 0.5),
  'gpt-4o': p(2.5, 10, 0.5),
  'o4-mini': p(1.1, 4.4, 0.25),
  'o3-pro': p(20, 80),
  'o3-mini': p(1.1, 4.4, 0.5),
  o3: p(2, 8, 0.25),
  'o1-pro': p(150, 600),
  'o1-mini': p(1.1, 4.4, 0.5),
  o1: p(15, 60, 0.5),
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

/** Most model names whose price a table keeps once looked up (then it starts again). */
const PRICE_CACHE = 1000;

export class PriceTable {
  private readonly entries: [string, ModelPrice][];
  /** Each model name's price once looked up (null: none): a call's usage is priced on every answer. */
  private readonly byModel = new Map<string, ModelPrice | null>();

  constructor(overrides: Readonly<Record<string, ModelPrice>> = {}) {
    this.entries = Object.entries({ ...DEFAULT_PRICES, ...overrides }).sort((a, b) => b[0].length - a[0].length);
  }

  /** The price of `model` (longest matching prefix), or undefined when none is known. */
  priceOf(model: string): ModelPrice | undefined {
    let price = this.byModel.get(model);
    if (price === undefined) {
      price = this.entries.find(([prefix]) => covers(prefix, model))?.[1] ?? null;
      if (this.byModel.size >= PRICE_CACHE) this.byModel.clear();
      this.byModel.set(model, price);
    }
    return price ?? undefined;
  }

  /** What `usage` costs at `model`'s price, to 1e-8 USD (prompt-cache tokens at their rates); undefined when the price is not known. */
  costUsdOf(usage: Parameters<typeof costOf>[0], model: string | null | undefined): number | undefined {
    const price = model ? this.priceOf(model) : undefined;
    return price ? Math.round(costOf(usage, price) * 1e8) / 1e8 : undefined;
  }
}

/**
 * What `usage` costs at `price` (USD): the input tokens neither read from nor written to the
 * prompt cache at the input price, those at the cache rates (the input price when it gives
 * none), the output at the output price.
 */
export function costOf(usage: Pick<Usage, 'inputTokens' | 'outputTokens' | 'cacheReadTokens' | 'cacheWriteTokens'>, price: ModelPrice): number {
  const read = usage.cacheReadTokens ?? 0;
  const write = usage.cacheWriteTokens ?? 0;
  const plain = Math.max(0, usage.inputTokens - read - write);
  return (
    (plain * price.inputPerMTok +
      read * (price.cacheReadPerMTok ?? price.inputPerMTok) +
      write * (price.cacheWritePerMTok ?? price.inputPerMTok) +
      usage.outputTokens * price.outputPerMTok) /
    1_000_000
  );
}
