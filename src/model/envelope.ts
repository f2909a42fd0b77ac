/**
 * Spend envelopes: what a workspace, or one API key, may spend per UTC day across all its runs
 * (tokens, USD). Enforced by the same reservation as a run's token and cost budget: every
 * provider call of a run reserves its estimate against the run's budget, its workspace's
 * envelope and its key's, together (src/store/scripts/lua/budget-reserve.lua).
 */
import { z } from 'zod';
import { DEFAULT_WORKSPACE, WorkspaceId } from './run.js';

export const Envelope = z
  .object({
    /** Most tokens (input and output) a day, all runs together. */
    maxTokensPerDay: z.number().int().positive().optional(),
    /** Most USD a day, by the price table; every model its runs call then needs a price. */
    maxCostUsdPerDay: z.number().positive().optional(),
  })
  .strict()
  .refine((e) => e.maxTokensPerDay !== undefined || e.maxCostUsdPerDay !== undefined, {
    message: 'must set maxTokensPerDay or maxCostUsdPerDay (DELETE removes an envelope)',
  });
export type Envelope = z.infer<typeof Envelope>;

/** A workspace named in a path (`default` included). */
export const WorkspaceParam = z.union([z.literal(DEFAULT_WORKSPACE), WorkspaceId]);

/** Whose envelope: a workspace's, or one of its API keys'. */
export type EnvelopeOwner = { workspace: string; keyId?: string | undefined };

/** An envelope's day as `GET /v1/workspaces/:id/envelope` shows it. */
export const EnvelopeDay = z.object({
  /** The UTC day (YYYY-MM-DD). */
  day: z.string(),
  /** When the day's counters start again (the next UTC midnight, ISO). */
  resetsAt: z.string(),
  spentTokens: z.number(),
  spentCostUsd: z.number(),
  /** What calls in flight hold (their estimates), released as they end. */
  reservedTokens: z.number(),
  reservedCostUsd: z.number(),
  /** Whether the 80% warning was given today. */
  warned: z.boolean(),
});
export type EnvelopeDay = z.infer<typeof EnvelopeDay>;

const DAY_MS = 86_400_000;
/** The day utcDay gave last, from its midnight (epoch ms). */
let lastDay = { from: Number.NaN, day: '' };

/** The UTC day of `ms` (YYYY-MM-DD): the day an envelope counts in. */
export function utcDay(ms: number): string {
  // The day of the last call is kept: every submission asks, nearly always within the same day.
  if (ms >= lastDay.from && ms < lastDay.from + DAY_MS) return lastDay.day;
  const day = new Date(ms).toISOString().slice(0, 10);
  lastDay = { from: Date.parse(`${day}T00:00:00.000Z`), day };
  return day;
}

/** The next UTC midnight after `ms` (epoch ms). */
export function nextUtcMidnight(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
}

/** How an envelope is named in errors and events: `workspace acme` or `key abc… of workspace acme`. */
export const envelopeName = (o: EnvelopeOwner): string => (o.keyId ? `key ${o.keyId} of workspace ${o.workspace}` : `workspace ${o.workspace}`);
