/**
 * MongoDB, the system of record: run and step-result models, the `ResultSink` that upserts
 * into them, the connection handle (/readyz asks it), and the run listing query.
 *
 * Models are built on a given connection, never on mongoose's global default, so a process
 * (or a test) can hold several and nothing connects behind its back. Building models needs no
 * server: `createModels(createConnection())` validates documents offline.
 */
import mongoose, { Schema, createConnection, mongo, type Connection, type Model } from 'mongoose';
import { NonRetryableError, ValidationError, toError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import {
  RunStatus,
  StepStatus,
  type FailedStep,
  type RunEvent,
  type RunRecord,
  type StepRecord,
  type Usage,
} from '../runs/types.js';
import { toRunView, type ListRunsFilter, type RunArchive } from '../runs/runs-service.js';
import { sortableEntryId, type ResultSink, type WriteMeta } from './sink.js';

// ---------------------------------------------------------------------------------------
// Documents and models

/** A run event as archived inside its run (the run id is the document's). */
export interface ArchivedEvent {
  id: string;
  type: RunEvent['type'];
  stepId?: string | undefined;
  at: Date;
  data: Record<string, unknown>;
}

/** A run as stored: RunRecord with Dates, `_id` = run id, and its event log. */
export interface RunDocument extends Omit<RunRecord, 'id' | 'createdAt' | 'startedAt' | 'finishedAt'> {
  _id: string;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  events: ArchivedEvent[];
  /** Sortable id of the outbox entry last written; an older entry never overwrites it. */
  outboxSeq?: string | undefined;
}

/** A step result as stored: StepRecord with Dates and `_id` = `${runId}.${stepId}`. */
export interface StepDocument extends Omit<StepRecord, 'createdAt' | 'startedAt' | 'finishedAt'> {
  _id: string;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  outboxSeq?: string | undefined;
}

export interface MongoModels {
  Run: Model<RunDocument>;
  StepResult: Model<StepDocument>;
}

const nullableString = { type: String, default: null };
const nullableDate = { type: Date, default: null };
// `minimize: false` keeps empty objects (`data: {}`, `input: {}`) instead of dropping them;
// timestamps and `__v` are off: the records carry their own times and are never edited in place.
const schemaOptions = { versionKey: false, timestamps: false, minimize: false } as const;

const UsageSchema = new Schema<Usage>(
  {
    inputTokens: { type: Number, required: true, min: 0 },
    outputTokens: { type: Number, required: true, min: 0 },
  },
  { _id: false },
);

const FailedStepSchema = new Schema<FailedStep>(
  { stepId: { type: String, required: true }, agent: { type: String, required: true }, error: { type: String, default: '' } },
  { _id: false },
);

const EventSchema = new Schema<ArchivedEvent>(
  {
    id: { type: String, required: true },
    // A path named `type` must itself be declared with `type`, or mongoose reads it as the type.
    type: { type: String, required: true },
    stepId: { type: String },
    at: { type: Date, required: true },
    data: { type: Schema.Types.Mixed, default: {} },
  },
  { _id: false, minimize: false },
);

const RunSchema = new Schema<RunDocument>(
  {
    _id: { type: String, required: true },
    workflow: { type: String, required: true },
    status: { type: String, enum: RunStatus.options, required: true },
    input: { type: Schema.Types.Mixed, default: null },
    output: { type: Schema.Types.Mixed, default: null },
    error: nullableString,
    agents: { type: [String], default: [] },
    failedSteps: { type: [FailedStepSchema], default: [] },
    skippedSteps: { type: [String], default: [] },
    usage: { type: UsageSchema, required: true },
    priority: { type: Number, default: null },
    idempotencyKey: nullableString,
    scheduleId: nullableString,
    createdAt: { type: Date, required: true },
    startedAt: nullableDate,
    finishedAt: nullableDate,
    events: { type: [EventSchema], default: [] },
    outboxSeq: { type: String },
  },
  { ...schemaOptions, collection: 'runs' },
);
// Listing is newest first with `_id` as tie-break (keyset pagination), hence the `_id` suffix.
RunSchema.index({ status: 1, createdAt: -1, _id: -1 });
RunSchema.index({ workflow: 1, createdAt: -1, _id: -1 });
RunSchema.index({ agents: 1, createdAt: -1, _id: -1 });
RunSchema.index({ createdAt: -1, _id: -1 });

const StepSchema = new Schema<StepDocument>(
  {
    _id: { type: String, required: true },
    runId: { type: String, required: true },
    stepId: { type: String, required: true },
    agent: { type: String, required: true },
    status: { type: String, enum: StepStatus.options, required: true },
    dependsOn: { type: [String], default: [] },
    optional: { type: Boolean, default: false },
    input: { type: Schema.Types.Mixed, default: null },
    output: nullableString,
    usage: { type: UsageSchema, default: null },
    model: nullableString,
    attempts: { type: Number, required: true, min: 0 },
    error: nullableString,
    reason: nullableString,
    createdAt: { type: Date, required: true },
    startedAt: nullableDate,
    finishedAt: nullableDate,
    outboxSeq: { type: String },
  },
  { ...schemaOptions, collection: 'step_results' },
);
StepSchema.index({ runId: 1 });
StepSchema.index({ agent: 1, createdAt: -1 });
StepSchema.index({ status: 1, createdAt: -1 });

/** The models on `conn` (created on first call, reused after). Needs no server. */
export function createModels(conn: Connection): MongoModels {
  const existing = conn.models;
  return {
    Run: (existing.Run as Model<RunDocument> | undefined) ?? conn.model<RunDocument>('Run', RunSchema),
    StepResult: (existing.StepResult as Model<StepDocument> | undefined) ?? conn.model<StepDocument>('StepResult', StepSchema),
  };
}

// ---------------------------------------------------------------------------------------
// Mappers (pure)

const toDate = (iso: string): Date => new Date(iso);
const toDateOrNull = (iso: string | null): Date | null => (iso === null ? null : new Date(iso));
const toIso = (date: Date | null): string | null => (date === null ? null : date.toISOString());

export function toRunDocument(record: RunRecord, events: RunEvent[]): RunDocument {
  const { id, createdAt, startedAt, finishedAt, ...rest } = record;
  return {
    ...rest,
    _id: id,
    input: record.input ?? null,
    createdAt: toDate(createdAt),
    startedAt: toDateOrNull(startedAt),
    finishedAt: toDateOrNull(finishedAt),
    events: events.map((e) => ({
      id: e.id,
      type: e.type,
      ...(e.stepId === undefined ? {} : { stepId: e.stepId }),
      at: toDate(e.at),
      data: e.data,
    })),
  };
}

export function toStepDocument(record: StepRecord): StepDocument {
  const { createdAt, startedAt, finishedAt, ...rest } = record;
  return {
    ...rest,
    _id: `${record.runId}.${record.stepId}`,
    input: record.input ?? null,
    createdAt: toDate(createdAt),
    startedAt: toDateOrNull(startedAt),
    finishedAt: toDateOrNull(finishedAt),
  };
}

/** Back to the API shape. */
export function fromStepDocument(doc: StepDocument): StepRecord {
  const { _id, outboxSeq, createdAt, startedAt, finishedAt, ...rest } = doc;
  return { ...rest, createdAt: createdAt.toISOString(), startedAt: toIso(startedAt ?? null), finishedAt: toIso(finishedAt ?? null) };
}

/** A run's archived events back as RunEvents (SSE), oldest first. */
export function fromArchivedEvents(runId: string, events: readonly ArchivedEvent[]): RunEvent[] {
  return events.map((e) => ({
    id: e.id,
    type: e.type,
    runId,
    ...(e.stepId === undefined || e.stepId === null ? {} : { stepId: e.stepId }),
    at: e.at.toISOString(),
    data: e.data ?? {},
  }));
}

/** Back to the API shape (events are not part of RunRecord). */
export function fromRunDocument(doc: RunDocument): RunRecord {
  return {
    id: doc._id,
    workflow: doc.workflow,
    status: doc.status,
    input: doc.input ?? null,
    output: doc.output ?? null,
    error: doc.error ?? null,
    agents: doc.agents,
    failedSteps: doc.failedSteps,
    skippedSteps: doc.skippedSteps,
    usage: { inputTokens: doc.usage.inputTokens, outputTokens: doc.usage.outputTokens },
    priority: doc.priority ?? null,
    idempotencyKey: doc.idempotencyKey ?? null,
    scheduleId: doc.scheduleId ?? null,
    createdAt: doc.createdAt.toISOString(),
    startedAt: toIso(doc.startedAt ?? null),
    finishedAt: toIso(doc.finishedAt ?? null),
  };
}

// ---------------------------------------------------------------------------------------
// Sink

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

  async writeRun(doc: RunRecord, events: RunEvent[], meta?: WriteMeta): Promise<void> {
    const { _id, events: archived, ...fields } = toRunDocument(doc, events);
    // Events are read from Redis at write time; once that stream has expired the list comes
    // back empty, and an empty list must not erase the archive.
    const set = archived.length > 0 ? { ...fields, events: archived } : fields;
    const onInsert = archived.length > 0 ? undefined : { events: [] };
    await this.upsert(this.models.Run, `run ${_id}`, _id, set, onInsert, meta);
  }

  async writeStep(doc: StepRecord, meta?: WriteMeta): Promise<void> {
    const { _id, ...fields } = toStepDocument(doc);
    await this.upsert(this.models.StepResult, `step ${_id}`, _id, fields, undefined, meta);
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
  private async upsert<T>(
    model: Model<T>,
    what: string,
    id: string,
    set: Record<string, unknown>,
    onInsert: Record<string, unknown> | undefined,
    meta: WriteMeta | undefined,
  ): Promise<void> {
    await this.ensureConnected();
    const filter: Record<string, unknown> = { _id: id };
    const update: Record<string, unknown> = { $set: set };
    if (meta) {
      const seq = sortableEntryId(meta.entryId);
      filter.$or = [{ outboxSeq: { $lt: seq } }, { outboxSeq: { $exists: false } }];
      update.$set = { ...set, outboxSeq: seq };
    }
    if (onInsert) update.$setOnInsert = onInsert;
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

// ---------------------------------------------------------------------------------------
// Connection

export interface MongoHandle {
  conn: Connection;
  models: MongoModels;
  sink: MongoSink;
  /** Can MongoDB be reached now? Never throws; bounded by `serverSelectionTimeoutMS`. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface ConnectMongoOptions {
  /** How long an operation (or ping) waits for a usable server. @default 2000 */
  serverSelectionTimeoutMS?: number;
}

/**
 * Open MongoDB without failing when it is down: the handle is returned either way, /readyz
 * reports `ping() === false`, and the outbox keeps results until writes succeed. A first
 * connection that failed is retried on the next write or ping (the driver only reconnects
 * connections that were once up).
 */
export async function connectMongo(uri: string, logger: Logger, options: ConnectMongoOptions = {}): Promise<MongoHandle> {
  const log = logger.child({ component: 'mongo' });
  const timeout = options.serverSelectionTimeoutMS ?? 2000;
  const conn = createConnection();
  // Also marks a failed first connection as handled (no unhandled rejection).
  conn.on('error', (err: unknown) => log.debug({ err }, 'mongodb connection error'));
  conn.on('disconnected', () => log.warn('mongodb disconnected'));
  conn.on('reconnected', () => log.info('mongodb reconnected'));
  const models = createModels(conn);

  let opened = false;
  let closing = false;
  let opening: Promise<void> | undefined;
  const open = async (): Promise<void> => {
    // Fail fast instead of queueing operations while disconnected: the outbox is the queue.
    const connectOptions = { serverSelectionTimeoutMS: timeout, connectTimeoutMS: timeout, bufferCommands: false };
    try {
      await conn.openUri(uri, connectOptions);
      opened = true;
      log.info('mongodb connected');
    } catch (err) {
      // Release the failed client's monitors before a later attempt builds a new one.
      await conn.close().catch(() => undefined);
      throw err;
    }
  };
  const ensureConnected = async (): Promise<void> => {
    if (opened) return;
    if (closing) throw new Error('mongodb connection is closed');
    opening ??= open().finally(() => {
      opening = undefined;
    });
    await opening;
  };

  const close = async (): Promise<void> => {
    closing = true;
    await opening?.catch(() => undefined);
    await conn.close();
  };
  const ping = async (): Promise<boolean> => {
    try {
      await ensureConnected();
      await conn.db?.admin().command({ ping: 1 });
      return conn.db !== undefined;
    } catch {
      return false;
    }
  };

  const sink = new MongoSink({ models, ensureConnected, onClose: close });
  try {
    await ensureConnected();
  } catch (err) {
    log.warn({ err }, 'mongodb unreachable; results wait in the outbox until it is');
  }
  return { conn, models, sink, ping, close };
}

// ---------------------------------------------------------------------------------------
// Listing

interface CursorPosition {
  createdAt: Date;
  id: string;
}

function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt.toISOString(), position.id])).toString('base64url');
}

function decodeCursor(cursor: string): CursorPosition {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
      const createdAt = new Date(value[0]);
      if (!Number.isNaN(createdAt.getTime())) return { createdAt, id: value[1] };
    }
  } catch {
    // reported below
  }
  throw new ValidationError('invalid cursor', [{ path: 'cursor', message: 'not a cursor returned by this listing' }]);
}

/**
 * Runs newest first, filtered, one page at a time. Keyset pagination on (createdAt, _id):
 * stable while new runs arrive, and each page costs the same however deep it is.
 */
export async function listRunsFromMongo(models: MongoModels, query: ListRunsFilter): ReturnType<RunArchive['listRuns']> {
  if (!Number.isInteger(query.limit) || query.limit < 1) {
    throw new ValidationError('invalid limit', [{ path: 'limit', message: 'must be a positive integer' }]);
  }
  const filter: Record<string, unknown> = {};
  if (query.status !== undefined) filter.status = query.status;
  if (query.workflow !== undefined) filter.workflow = query.workflow;
  if (query.agent !== undefined) filter.agents = query.agent;
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor);
    filter.$or = [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, _id: { $lt: after.id } }];
  }
  const docs = await models.Run.find(filter, { events: 0, outboxSeq: 0 })
    .sort({ createdAt: -1, _id: -1 })
    .limit(query.limit + 1)
    .lean<RunDocument[]>()
    .exec();
  const page = docs.slice(0, query.limit);
  const last = page.at(-1);
  return {
    runs: page.map(fromRunDocument),
    nextCursor: docs.length > query.limit && last ? encodeCursor({ createdAt: last.createdAt, id: last._id }) : null,
  };
}

/** Runs that left Redis, read from MongoDB (GET /v1/runs/:id, the listing, the event log). */
export function createMongoArchive(models: MongoModels): RunArchive {
  return {
    async getRun(id) {
      const [doc, steps] = await Promise.all([
        models.Run.findById(id, { events: 0 }).lean<RunDocument>().exec(),
        models.StepResult.find({ runId: id }).lean<StepDocument[]>().exec(),
      ]);
      if (!doc) return null;
      return toRunView(fromRunDocument(doc), steps.map(fromStepDocument));
    },
    listRuns: (filter) => listRunsFromMongo(models, filter),
    async getEvents(id) {
      const doc = await models.Run.findById(id, { events: 1 }).lean<Pick<RunDocument, '_id' | 'events'>>().exec();
      return doc ? fromArchivedEvents(id, doc.events ?? []) : null;
    },
  };
}
