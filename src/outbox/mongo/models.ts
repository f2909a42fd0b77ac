/**
 * MongoDB documents and models: runs, step results and run events, each in its own collection
 * (a run's event log grows with the run, so it is never part of the run's document and the
 * 16 MB document limit never drops a big run). Models are built on a given connection, never
 * on mongoose's global default, so a process (or a test) can hold several and nothing connects
 * behind its back. Building models needs no server: documents validate offline.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { StepKind } from '../../kinds/definition.js';
import type { AuditEntry } from '../../model/audit.js';
import { RunStatus, StepStatus, type FailedStep, type RunEvent, type RunRecord, type StepRecord, type Usage } from '../../model/run.js';

/** A run as stored: RunRecord with Dates, `_id` = run id, and the definition it executed (JSON text). */
export interface RunDocument extends Omit<RunRecord, 'id' | 'createdAt' | 'startedAt' | 'finishedAt'> {
  _id: string;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** The compiled workflow as JSON text (its input objects may hold keys MongoDB refuses). */
  definition?: string | undefined;
  /** Sortable id of the outbox entry last written; an older entry never overwrites it. */
  outboxSeq?: string | undefined;
}

/**
 * A step result as stored: StepRecord with Dates and `_id` = `${runId}.${stepId}`; what it keeps
 * to debug its calls as JSON text (a request's tool schemas hold keys like `$schema`).
 */
export interface StepDocument extends Omit<StepRecord, 'createdAt' | 'startedAt' | 'finishedAt' | 'feedback' | 'debug' | 'calls'> {
  _id: string;
  /** Its run's workspace. */
  workspaceId: string;
  /** StepRecord.debug as JSON text (absent in a document written before it was kept). */
  debug?: string | null | undefined;
  /** StepRecord.calls as JSON text. */
  calls?: string | null | undefined;
  /** Absent in a write that carries none: the stored feedback is left alone. */
  feedback?: StepRecord['feedback'] | undefined;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  outboxSeq?: string | undefined;
}

/** One event of a run's log: `_id` = `${runId}/${id}`; `seq` orders them (sortable id). */
export interface EventDocument {
  _id: string;
  runId: string;
  /** Its run's workspace. */
  workspaceId: string;
  seq: string;
  id: string;
  type: RunEvent['type'];
  stepId?: string | undefined;
  at: Date;
  data: Record<string, unknown>;
}

/** An audit entry: `_id` = `<workspace>/<stream id>`, scoped by its workspace. */
export interface AuditDocument extends Omit<AuditEntry, 'at'> {
  _id: string;
  at: Date;
}

/**
 * A conversation (the API's session), `_id` = `<workspace>/<id>`: its record as Redis holds it
 * (turns, summary, usage); a deleted one keeps only its ids, `version` and `deletedAt`.
 */
export interface ConversationDocument {
  _id: string;
  id: string;
  workspaceId: string;
  version: number;
  deletedAt?: Date;
  [field: string]: unknown;
}

export interface MongoModels {
  Conversation: Model<ConversationDocument>;
  Run: Model<RunDocument>;
  StepResult: Model<StepDocument>;
  RunEvent: Model<EventDocument>;
  AuditEntry: Model<AuditDocument>;
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
    costUsd: { type: Number, min: 0 },
    cacheReadTokens: { type: Number, min: 0 },
    cacheWriteTokens: { type: Number, min: 0 },
    cachedCalls: { type: Number, min: 0 },
    costSavedUsd: { type: Number, min: 0 },
  },
  { _id: false },
);

const FailedStepSchema = new Schema<FailedStep>(
  {
    stepId: { type: String, required: true },
    kind: { type: String, enum: StepKind.options, default: 'agent' },
    agent: nullableString,
    error: { type: String, default: '' },
  },
  { _id: false },
);

const RunSchema = new Schema<RunDocument>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
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
    rerunOf: nullableString,
    keyId: nullableString,
    budget: { type: Schema.Types.Mixed, default: null },
    context: { type: Schema.Types.Mixed, default: null },
    contextWriters: { type: Schema.Types.Mixed, default: null },
    outputs: { type: Schema.Types.Mixed, default: null },
    createdAt: { type: Date, required: true },
    startedAt: nullableDate,
    finishedAt: nullableDate,
    definition: { type: String },
    outboxSeq: { type: String },
  },
  { ...schemaOptions, collection: 'runs' },
);
// Listing is a workspace's runs newest first, `_id` as tie-break (keyset pagination).
RunSchema.index({ workspaceId: 1, status: 1, createdAt: -1, _id: -1 });
RunSchema.index({ workspaceId: 1, workflow: 1, createdAt: -1, _id: -1 });
RunSchema.index({ workspaceId: 1, agents: 1, createdAt: -1, _id: -1 });
RunSchema.index({ workspaceId: 1, createdAt: -1, _id: -1 });

const StepSchema = new Schema<StepDocument>(
  {
    _id: { type: String, required: true },
    runId: { type: String, required: true },
    workspaceId: { type: String, default: 'default' },
    stepId: { type: String, required: true },
    kind: { type: String, enum: StepKind.options, required: true },
    agent: nullableString,
    parent: nullableString,
    status: { type: String, enum: StepStatus.options, required: true },
    dependsOn: { type: [String], default: [] },
    optional: { type: Boolean, default: false },
    input: { type: Schema.Types.Mixed, default: null },
    output: { type: Schema.Types.Mixed, default: null },
    usage: { type: UsageSchema, default: null },
    model: nullableString,
    attempts: { type: Number, required: true, min: 0 },
    recovered: { type: Boolean, default: false },
    reusedFrom: nullableString,
    cached: { type: Boolean },
    feedback: { type: Schema.Types.Mixed, default: null },
    error: nullableString,
    reason: nullableString,
    retryAt: nullableString,
    debug: nullableString,
    calls: nullableString,
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

const EventSchema = new Schema<EventDocument>(
  {
    _id: { type: String, required: true },
    runId: { type: String, required: true },
    workspaceId: { type: String, default: 'default' },
    seq: { type: String, required: true },
    id: { type: String, required: true },
    // A path named `type` must itself be declared with `type`, or mongoose reads it as the type.
    type: { type: String, required: true },
    stepId: { type: String },
    at: { type: Date, required: true },
    data: { type: Schema.Types.Mixed, default: {} },
  },
  { ...schemaOptions, collection: 'run_events' },
);
EventSchema.index({ runId: 1, seq: 1 });

const AuditSchema = new Schema<AuditDocument>(
  {
    _id: { type: String, required: true },
    id: { type: String, required: true },
    at: { type: Date, required: true },
    action: { type: String, required: true },
    workspace: { type: String, required: true },
    actor: { kind: { type: String, required: true }, id: { type: String, required: true } },
    ip: { type: String },
    target: { type: String },
    details: { type: Schema.Types.Mixed },
  },
  { ...schemaOptions, collection: 'audit_log' },
);
AuditSchema.index({ workspace: 1, at: -1 });
AuditSchema.index({ action: 1, at: -1 });

const ConversationSchema = new Schema<ConversationDocument>(
  {
    _id: { type: String, required: true },
    id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    version: { type: Number, required: true },
    deletedAt: { type: Date },
  },
  // The record's other fields (agent, turns, summary, usage...) are kept as they are.
  { ...schemaOptions, strict: false, collection: 'conversations' },
);
ConversationSchema.index({ workspaceId: 1, createdAt: -1 });

/** The models on `conn` (created on first call, reused after). Needs no server. */
export function createModels(conn: Connection): MongoModels {
  const existing = conn.models;
  return {
    Conversation: (existing.Conversation as Model<ConversationDocument> | undefined) ?? conn.model<ConversationDocument>('Conversation', ConversationSchema),
    Run: (existing.Run as Model<RunDocument> | undefined) ?? conn.model<RunDocument>('Run', RunSchema),
    StepResult: (existing.StepResult as Model<StepDocument> | undefined) ?? conn.model<StepDocument>('StepResult', StepSchema),
    RunEvent: (existing.RunEvent as Model<EventDocument> | undefined) ?? conn.model<EventDocument>('RunEvent', EventSchema),
    AuditEntry: (existing.AuditEntry as Model<AuditDocument> | undefined) ?? conn.model<AuditDocument>('AuditEntry', AuditSchema),
  };
}
