/** The ResultSink over MongoDB: idempotent upserts of runs, step results and run events. */
import mongoose, { mongo, type Model } from 'mongoose';
import { NonRetryableError, toError } from '../../errors/index.js';
import type { StepRecord } from '../../model/run.js';
import type { AuditEntry } from '../../model/audit.js';
import type { Conversation } from '../../model/conversation.js';
import { sortableEntryId, type ResultSink, type RunWrite, type WriteMeta } from '../sink.js';
import { toEventDocument, toRunDocument, toStepDocument } from './mappers.js';
import type { MongoModels } from './models.js';

// Server error codes that mean "this document can never be stored", not "try later".
const PERMANENT_SERVER_CODES = new Set([
  2, // BadValue
  9, // FailedToParse
  14, // TypeMismatch
  52, // DollarPrefixedFieldName
  56, // EmptyFieldName
  57, // DottedFieldName
  121, // DocumentValidationFailure
  10334, // BSONObjectTooLarge
  17419, // resulting document after update is larger than 16 MB
]);

/** True when retrying cannot help: the document itself is refused. Everything else is an outage. */
export function isPermanentMongoError(err: unknown): boolean {
  if (err instanceof mongoose.Error.ValidationError || err instanceof mongoose.Error.CastError) return true;
  if (err instanceof mongoose.Error.StrictModeError) return true;
  if (err instanceof mongo.MongoInvalidArgumentError) return true;
  if (err instanceof Error && err.name === 'BSONError') return true;
  return err instanceof mongo.MongoServerError && typeof err.code === 'number' && PERMANENT_SERVER_CODES.has(err.code);
}

function isDuplicateKey(err: unknown): boolean {
  return err instanceof mongo.MongoServerError && err.code === 11000;
}

/** Events are inserted in batches of this many (one round trip each). */
const EVENT_BATCH = 1000;

/**
 * Upserts of a run's events: each is written once (`$setOnInsert` by `_id`), so a log delivered
 * again, or in part, changes nothing that is there.
 */
export function eventUpserts(
  write: Pick<RunWrite, 'events'>,
  workspaceId?: string,
): { updateOne: { filter: { _id: string }; update: { $setOnInsert: Record<string, unknown> }; upsert: true } }[] {
  return write.events.map((e) => {
    const { _id, ...doc } = toEventDocument(e, workspaceId);
    return { updateOne: { filter: { _id }, update: { $setOnInsert: doc }, upsert: true } };
  });
}

export interface MongoSinkOptions {
  models: MongoModels;
  /** Awaited before each write, e.g. to (re)open a connection that never came up. */
  ensureConnected?: () => Promise<void>;
  /** Called by `close()`; by default the sink owns nothing and closes nothing. */
  onClose?: () => Promise<void>;
}

export class MongoSink implements ResultSink {
  private readonly models: MongoModels;
  private readonly ensureConnected: () => Promise<void>;
  private readonly onClose: () => Promise<void>;

  constructor(options: MongoSinkOptions) {
    this.models = options.models;
    this.ensureConnected = options.ensureConnected ?? (async () => {});
    this.onClose = options.onClose ?? (async () => {});
  }

  async writeRun(write: RunWrite, meta?: WriteMeta): Promise<void> {
    const { _id, ...fields } = toRunDocument(write.doc, write.definition);
    await this.upsert(this.models.Run, `run ${_id}`, _id, fields, meta);
    const ops = eventUpserts(write, write.doc.workspaceId);
    for (let i = 0; i < ops.length; i += EVENT_BATCH) {
      try {
        await this.models.RunEvent.bulkWrite(ops.slice(i, i + EVENT_BATCH), { ordered: false });
      } catch (err) {
        if (isPermanentMongoError(err)) throw new NonRetryableError(`MongoDB refused events of run ${_id}: ${toError(err).message}`, undefined, { cause: err });
        throw err;
      }
    }
  }

  async writeStep(doc: StepRecord, meta?: WriteMeta): Promise<void> {
    const { _id, ...fields } = toStepDocument(doc, meta?.workspaceId);
    const { workspaceId: _ws, ...entry } = meta ?? { entryId: '' };
    await this.upsert(this.models.StepResult, `step ${_id}`, _id, fields, meta ? entry : undefined);
  }

  async writeAudit(doc: AuditEntry): Promise<void> {
    await this.ensureConnected();
    // Keyed by workspace and stream id: delivered again, it changes nothing.
    const { id, at, ...rest } = doc;
    try {
      await this.models.AuditEntry.updateOne({ _id: `${doc.workspace}/${id}` }, { $setOnInsert: { ...rest, id, at: new Date(at) } }, { upsert: true });
    } catch (err) {
      if (isPermanentMongoError(err)) throw new NonRetryableError(`MongoDB refused audit entry ${id}: ${toError(err).message}`, undefined, { cause: err });
      throw err;
    }
  }

  async writeConversation(doc: Conversation, meta: { deleted: boolean }): Promise<void> {
    await this.ensureConnected();
    const _id = `${doc.workspaceId}/${doc.id}`;
    // A deletion is a version after the record's last: an older entry delivered again cannot bring it back.
    const replacement = meta.deleted ? { _id, id: doc.id, workspaceId: doc.workspaceId, version: doc.version + 1, deletedAt: new Date() } : { ...doc, _id };
    try {
      // Only over an older version: the filter misses a newer one, and the upsert then collides on _id.
      await this.models.Conversation.replaceOne({ _id, version: { $lt: replacement.version } }, replacement, { upsert: true });
    } catch (err) {
      if (isDuplicateKey(err)) return;
      if (isPermanentMongoError(err)) throw new NonRetryableError(`MongoDB refused conversation ${doc.id}: ${toError(err).message}`, undefined, { cause: err });
      throw err;
    }
  }

  close(): Promise<void> {
    return this.onClose();
  }

  /**
   * Idempotent upsert. With `meta`, only an older stored state is replaced: the filter then
   * misses a newer document, the upsert tries to insert a second `_id` and fails with a
   * duplicate key, which means "stale, skip". Two racing first inserts also end in a
   * duplicate key, so it is tried once more before being taken as stale.
   */
  private async upsert<T>(model: Model<T>, what: string, id: string, set: Record<string, unknown>, meta: WriteMeta | undefined): Promise<void> {
    await this.ensureConnected();
    const filter: Record<string, unknown> = { _id: id };
    const update: Record<string, unknown> = { $set: set };
    if (meta) {
      const seq = sortableEntryId(meta.entryId);
      filter.$or = [{ outboxSeq: { $lt: seq } }, { outboxSeq: { $exists: false } }];
      update.$set = { ...set, outboxSeq: seq };
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await model.updateOne(filter, update, { upsert: true, runValidators: true });
        return;
      } catch (err) {
        if (meta && isDuplicateKey(err)) {
          if (attempt < 2) continue;
          return;
        }
        if (isPermanentMongoError(err)) {
          throw new NonRetryableError(`MongoDB refused ${what}: ${toError(err).message}`, undefined, { cause: err });
        }
        throw err;
      }
    }
  }
}
