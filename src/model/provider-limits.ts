/**
 * Provider limits as the agents file declares them (`providers:`): what one provider, one of
 * its models, and optionally each API key may take, across every agent queue and worker
 * process, and its circuit breaker.
 */
import { z } from 'zod';

/** Requests and tokens (input + output) per minute, and calls at once. */
export const LimitSet = z
  .object({
    rpm: z.number().int().positive().optional(),
    tpm: z.number().int().positive().optional(),
    maxConcurrent: z.number().int().positive().optional(),
  })
  .strict();
export type LimitSet = z.infer<typeof LimitSet>;

/** After `failures` failed calls (5xx, timeouts, connection errors) within `windowMs`, calls stop for `cooldownMs`; then one probe call decides. */
export const BreakerSpec = z
  .object({
    failures: z.number().int().min(1).max(1000).default(5),
    windowMs: z.number().int().positive().default(60_000),
    cooldownMs: z.number().int().positive().default(30_000),
  })
  .strict();
export type BreakerSpec = z.infer<typeof BreakerSpec>;

export const ProviderLimits = LimitSet.extend({
  /** Limits of a model, by model name prefix (the longest matching prefix applies), on top of the provider's. */
  models: z.record(z.string().min(1), LimitSet).default({}),
  /** The limits hold per API key (each key its own budget of requests and tokens). Default false. */
  perKey: z.boolean().default(false),
  /** A circuit breaker per model (none by default). */
  breaker: BreakerSpec.optional(),
}).strict();
export type ProviderLimits = z.infer<typeof ProviderLimits>;
