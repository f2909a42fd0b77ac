/** The zod pieces the environment's settings are parsed with (env.ts and its groups). */
import { z } from 'zod';

export const emptyToUndefined = (v: unknown) => (v === '' ? undefined : v);
export const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
export const optionalUrl = z.preprocess(emptyToUndefined, z.url().optional());
export const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().min(min).max(max).default(def));
/** The longest delay a Node.js timer takes (2^31 - 1 ms, about 24.8 days): a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;
/** A duration in ms that becomes a timer: at most MAX_TIMER_MS. */
export const ms = (def: number, min = 0) => int(def, min, MAX_TIMER_MS);
export const bool = (def: boolean) =>
  z.preprocess(emptyToUndefined, z.enum(['true', 'false', '1', '0']).default(def ? 'true' : 'false')).transform((v) => v === 'true' || v === '1');
