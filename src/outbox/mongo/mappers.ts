/** Pure mappings between records (the API's shapes) and MongoDB documents, both ways. */
import type { RunEvent, RunRecord, StepRecord } from '../../model/run.js';
import { sortableEntryId } from '../sink.js';
import type { EventDocument, RunDocument, StepDocument } from './models.js';

const toDate = (iso: string): Date => new Date(iso);
const toDateOrNull = (iso: string | null): Date | null => (iso === null ? null : new Date(iso));
const toIso = (date: Date | null): string | null => (date === null ? null : date.toISOString());

export function toRunDocument(record: RunRecord, definition?: unknown): RunDocument {
  const { id, createdAt, startedAt, finishedAt, ...rest } = record;
  return {
    ...rest,
    _id: id,
    input: record.input ?? null,
    createdAt: toDate(createdAt),
    startedAt: toDateOrNull(startedAt),
    finishedAt: toDateOrNull(finishedAt),
    ...(definition === undefined ? {} : { definition: JSON.stringify(definition) }),
  };
}

/** Back to the API shape (the definition is read separately: `definitionOf`). */
export function fromRunDocument(doc: RunDocument): RunRecord {
  return {
    id: doc._id,
    workspaceId: doc.workspaceId,
    workflow: doc.workflow,
    status: doc.status,
    input: doc.input ?? null,
    output: doc.output ?? null,
    error: doc.error ?? null,
    agents: doc.agents,
    failedSteps: doc.failedSteps.map((f) => ({ stepId: f.stepId, kind: f.kind ?? 'agent', agent: f.agent ?? null, error: f.error })),
    skippedSteps: doc.skippedSteps,
    usage: {
      inputTokens: doc.usage.inputTokens,
      outputTokens: doc.usage.outputTokens,
      ...(typeof doc.usage.costUsd === 'number' ? { costUsd: doc.usage.costUsd } : {}),
    },
    priority: doc.priority ?? null,
    idempotencyKey: doc.idempotencyKey ?? null,
    scheduleId: doc.scheduleId ?? null,
    rerunOf: doc.rerunOf ?? null,
    keyId: doc.keyId ?? null,
    budget: doc.budget ?? null,
    context: doc.context ?? null,
    contextWriters: doc.contextWriters ?? null,
    outputs: doc.outputs ?? null,
    createdAt: doc.createdAt.toISOString(),
    startedAt: toIso(doc.startedAt ?? null),
    finishedAt: toIso(doc.finishedAt ?? null),
  };
}

/** The definition a run document keeps, parsed (undefined when it has none). */
export function definitionOf(doc: Pick<RunDocument, 'definition'>): unknown {
  return doc.definition === undefined || doc.definition === null ? undefined : JSON.parse(doc.definition);
}

/** A step as stored, with its run's workspace (the default one when the entry did not say). */
export function toStepDocument(record: StepRecord, workspaceId = 'default'): StepDocument {
  // No feedback on the record: a write leaves the stored one alone (a late answer's record must not erase it).
  const { createdAt, startedAt, finishedAt, feedback, debug, calls, ...rest } = record;
  return {
    ...rest,
    ...(feedback ? { feedback } : {}),
    _id: `${record.runId}.${record.stepId}`,
    workspaceId,
    input: record.input ?? null,
    output: record.output ?? null,
    debug: debug ? JSON.stringify(debug) : null,
    calls: calls ? JSON.stringify(calls) : null,
    createdAt: toDate(createdAt),
    startedAt: toDateOrNull(startedAt),
    finishedAt: toDateOrNull(finishedAt),
  };
}

export function fromStepDocument(doc: StepDocument): StepRecord {
  const { _id, outboxSeq: _outboxSeq, workspaceId: _workspaceId, createdAt, startedAt, finishedAt, debug, calls, ...rest } = doc;
  return {
    ...rest,
    debug: debug ? (JSON.parse(debug) as StepRecord['debug']) : null,
    calls: calls ? (JSON.parse(calls) as StepRecord['calls']) : null,
    agent: rest.agent ?? null,
    parent: rest.parent ?? null,
    output: rest.output ?? null,
    recovered: rest.recovered ?? false,
    reusedFrom: rest.reusedFrom ?? null,
    feedback: rest.feedback ?? null,
    retryAt: rest.retryAt ?? null,
    routing: rest.routing ?? null,
    createdAt: createdAt.toISOString(),
    startedAt: toIso(startedAt ?? null),
    finishedAt: toIso(finishedAt ?? null),
  };
}

export function toEventDocument(event: RunEvent, workspaceId = 'default'): EventDocument {
  return {
    _id: `${event.runId}/${event.id}`,
    runId: event.runId,
    workspaceId,
    seq: sortableEntryId(event.id),
    id: event.id,
    type: event.type,
    ...(event.stepId === undefined ? {} : { stepId: event.stepId }),
    at: toDate(event.at),
    data: event.data,
  };
}

export function fromEventDocument(doc: EventDocument): RunEvent {
  return {
    id: doc.id,
    type: doc.type,
    runId: doc.runId,
    ...(doc.stepId === undefined || doc.stepId === null ? {} : { stepId: doc.stepId }),
    at: doc.at.toISOString(),
    data: doc.data ?? {},
  };
}
