/** Runs that left Redis, read from MongoDB: GET /v1/runs/:id, the listing, the event log. */
import { ValidationError } from '../../errors/index.js';
import type { ListRunsFilter, RunArchive } from '../../query/run-queries.js';
import { toRunView } from '../../query/run-view.js';
import { toSummary } from '../../model/run.js';
import { runDefinition } from '../../submit/agent-task.js';
import { definitionOf, fromEventDocument, fromRunDocument, fromStepDocument } from './mappers.js';
import type { EventDocument, MongoModels, RunDocument, StepDocument } from './models.js';

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
  const filter: Record<string, unknown> = { workspaceId: query.workspaceId };
  if (query.status !== undefined) filter.status = query.status;
  if (query.workflow !== undefined) filter.workflow = query.workflow;
  if (query.agent !== undefined) filter.agents = query.agent;
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor);
    filter.$or = [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, _id: { $lt: after.id } }];
  }
  const include = query.include ?? [];
  const projection: Record<string, 0> = { definition: 0, outboxSeq: 0 };
  if (!include.includes('input')) projection.input = 0;
  if (!include.includes('output')) projection.output = 0;
  const docs = await models.Run.find(filter, projection)
    .sort({ createdAt: -1, _id: -1 })
    .limit(query.limit + 1)
    .lean<RunDocument[]>()
    .exec();
  const page = docs.slice(0, query.limit);
  const last = page.at(-1);
  return {
    runs: page.map((doc) => toSummary(fromRunDocument(doc), include)),
    nextCursor: docs.length > query.limit && last ? encodeCursor({ createdAt: last.createdAt, id: last._id }) : null,
  };
}

/** Runs that left Redis, read from MongoDB (GET /v1/runs/:id, the listing, the event log), each of one workspace. */
export function createMongoArchive(models: MongoModels): RunArchive {
  return {
    async getRun(workspaceId, id, opts = {}) {
      const [doc, steps] = await Promise.all([
        models.Run.findOne({ _id: id, workspaceId }, opts.definition ? { outboxSeq: 0 } : { definition: 0, outboxSeq: 0 })
          .lean<RunDocument>()
          .exec(),
        models.StepResult.find({ runId: id }).sort({ createdAt: 1, _id: 1 }).lean<StepDocument[]>().exec(),
      ]);
      if (!doc) return null;
      const view = toRunView(fromRunDocument(doc), steps.map(fromStepDocument));
      const definition = opts.definition ? runDefinition(view, definitionOf(doc)) : undefined;
      if (definition !== undefined) view.definition = definition;
      return view;
    },
    listRuns: (filter) => listRunsFromMongo(models, filter),
    async getEvents(workspaceId, id) {
      const [run, events] = await Promise.all([
        models.Run.exists({ _id: id, workspaceId }).exec(),
        models.RunEvent.find({ runId: id }).sort({ seq: 1 }).lean<EventDocument[]>().exec(),
      ]);
      return run ? events.map(fromEventDocument) : null;
    },
  };
}
