/**
 * The result sink: where the outbox consumer delivers finished and in-flight records
 * (MongoDB in production, an in-memory fake in tests). One narrow seam, so the consumer
 * knows nothing about the store behind it.
 *
 * Contract:
 * - Writes are idempotent upserts keyed by run id / (runId, stepId): the outbox delivers
 *   at least once, so the same record may arrive twice, or after a crash, again.
 * - A rejected write leaves the entry in the outbox; it is retried with back-off. Throw a
 *   `NonRetryableError` for a record the store can never accept (it is then logged and
 *   dropped, so one bad record cannot block the stream); anything else counts as an outage.
 */
import type { AuditEntry } from '../model/audit.js';
import type { Conversation } from '../model/conversation.js';
import type { RunEvent, RunRecord, StepRecord } from '../model/run.js';

/** Where a record came from; lets a sink refuse to overwrite a newer state with an older one. */
export interface WriteMeta {
  /**
   * Id of the outbox stream entry that carried the record. Entries for one run are appended
   * in the order its state changed, so a larger id is a later state. Compare them as
   * numbers (`<ms>-<seq>`) or through `sortableEntryId`, never as plain strings.
   */
  entryId: string;
  /** The workspace of a step's record (its run's; absent in an entry of an earlier version: the default one). */
  workspaceId?: string;
}

/** A run to write: its record, its event log so far (in order; empty while it runs), and, once, its definition. */
export interface RunWrite {
  doc: RunRecord;
  events: RunEvent[];
  /** The compiled workflow it executes: carried by the run's first entry only. */
  definition?: unknown;
}

export interface ResultSink {
  /** Upsert a run, its events (each once, by id) and its definition when given. */
  writeRun(write: RunWrite, meta?: WriteMeta): Promise<void>;
  /** Upsert one step result, keyed by (runId, stepId). */
  writeStep(doc: StepRecord, meta?: WriteMeta): Promise<void>;
  /** Insert one audit entry, keyed by its id (once: an entry never changes). */
  writeAudit(doc: AuditEntry): Promise<void>;
  /**
   * Upsert a conversation (the API's session), keyed by (workspace, id), unless the stored one
   * is at a later `version`; `deleted`: it was deleted (nothing of it may be kept but the fact).
   */
  writeConversation(doc: Conversation, meta: { deleted: boolean }): Promise<void>;
  /** Release connections; the sink is not used afterwards. */
  close(): Promise<void>;
}

/**
 * A stream id rewritten so that plain string order is id order (fixed-width digits), for
 * stores that can only compare strings, such as a MongoDB `$lt` filter.
 */
export function sortableEntryId(entryId: string): string {
  const [ms = '0', seq = '0'] = entryId.split('-');
  return `${ms.padStart(16, '0')}-${seq.padStart(20, '0')}`;
}
