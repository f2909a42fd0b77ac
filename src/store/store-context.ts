/** What every part of the run store shares: its connection and how runs are kept. */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { Cell } from './scope.js';
import { parseJson } from './scripts/index.js';

export interface StoreOptions {
  redis: Redis;
  retentionSeconds: number;
  /** Append finished steps and runs to the outbox stream (only when something consumes it). */
  outbox: boolean;
  /** Completed jobs each queue keeps (for Bull Board); 0 removes a job when it completes. @default 0 */
  keepCompletedJobs?: number;
  logger?: Logger;
  /** Where the shared limiter's keys are (the global slot; see cells.ts). @default each run's own cell */
  global?: Cell;
}

export interface StoreContext {
  readonly redis: Redis;
  readonly retentionSeconds: number;
  readonly outbox: boolean;
  readonly keepCompletedJobs: number;
  readonly logger: Logger;
  readonly global: Cell | undefined;
}

/** A record's hash fields (JSON text each) as an object. */
export function decodeFields<T>(values: readonly (string | null)[], fields: readonly string[]): T {
  const out: Record<string, unknown> = {};
  fields.forEach((f, i) => (out[f] = parseJson(values[i])));
  return out as T;
}
