/**
 * What a model's tokens cost: a price table by model name prefix (the longest prefix that
 * matches a reported model name wins, so `claude-sonnet-4-5-20250929` is priced as
 * `claude-sonnet-4`), shipped defaults for current Anthropic and OpenAI models, overridden or
 * extended by `pricing:` in the agents file. Prices are USD per million tokens, as the
 * providers published them (list prices, no batch or cache discounts: cached input is priced
 * as input, which overstates a cached prompt's cost).
 */
import { z } from 'zod';
import type { Usage } from '../runs/types.js';

export const ModelPrice = z
  .object({
    /** USD per million input tokens. */
    inputPerMTok: z.number().nonnegative(),
    /** USD per million output tokens. */
    outputPerMTok: z.number().nonnegative(),
  })
  .strict();
export type ModelPrice = z.infer<typeof ModelPrice>;

const p = (inputPerMTok: number, outputPerMTok: number): ModelPrice => ({ inputPerMTok, outputPerMTok });

/** List prices (USD per million tokens) by model prefix. */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  echo: p(0, 0),
  'claude-opus-4-5': p(5, 25),
  'claude-opus-4': p(15, 75),
  'claude-sonnet-4': p(3, 15),
  'claude-3-7-sonnet': p(3, 15),
  'claude-haiku-4-5': p(1, 5),
  'claude-3-5-haiku': p(0.8, 4),
  'gpt-5-nano': p(0.05, 0.4),
  'gpt-5-mini': p(0.25, 2),
  'gpt-5': p(1.25, 10),
  'gpt-4.1-nano': p(0.1, 0.4),
  'gpt-4.1-mini': p(0.4, 1.6),
  'gpt-4.1': p(2, 8),
  'gpt-4o-mini': p(0.15, 0.6),
  'gpt-4o': p(2.5, 10),
  o3: p(2, 8),
  'o4-mini': p(1.1, 4.4),
};

export class PriceTable {
  private readonly entries: [string, ModelPrice][];

  constructor(overrides: Readonly<Record<string, ModelPrice>> = {}) {
    this.entries = Object.entries({ ...DEFAULT_PRICES, ...overrides }).sort((a, b) => b[0].length - a[0].length);
  }

  /** The price of `model` (longest matching prefix), or undefined when none is known. */
  priceOf(model: string): ModelPrice | undefined {
    return this.entries.find(([prefix]) => model.startsWith(prefix))?.[1];
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
