/**
 * MongoDB models, mappers, sink and listing. The first block needs no server (documents are
 * validated on an unopened connection, an outage is simulated with a closed port); the
 * second runs only when MONGODB_URI is set.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mongoose, { createConnection, mongo, type Connection } from 'mongoose';
import { NonRetryableError, ValidationError } from '../../src/errors/index.js';
import { silentLogger } from '../../src/logger.js';
import {
  connectMongo,
  createModels,
  createMongoArchive,
  definitionOf,
  eventUpserts,
  fromEventDocument,
  fromRunDocument,
  fromStepDocument,
  isPermanentMongoError,
  listRunsFromMongo,
  MongoSink,
  toEventDocument,
  toRunDocument,
  toStepDocument,
  type MongoHandle,
  type MongoModels,
} from '../../src/outbox/mongo/index.js';
import { sortableEntryId } from '../../src/outbox/sink.js';
import { toSummary, type RunEvent, type RunRecord, type StepRecord } from '../../src/model/run.js';

function run(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    id: 'run-1',
    workspaceId: 'default',
    workflow: 'research',
    status: 'succeeded',
    input: { topic: 'queues', nested: {} },
    output: { answer: 42 },
    error: null,
    agents: ['researcher', 'writer'],
    failedSteps: [{ stepId: 'b', kind: 'agent', agent: 'writer', error: 'boom' }],
    skippedSteps: ['c'],
    usage: { inputTokens: 10, outputTokens: 20 },
    priority: 5,
    idempotencyKey: 'k-1',
    scheduleId: null,
    rerunOf: null,
    keyId: null,
    budget: null,
    context: null,
    contextWriters: null,
    outputs: null,
    createdAt: '2025-01-01T10:00:00.000Z',
    startedAt: '2025-01-01T10:00:01.000Z',
    finishedAt: '2025-01-01T10:00:09.000Z',
    ...overrides,
  };
}

function step(overrides: Partial<StepRecord> = {}): StepRecord {
  return {
    runId: 'run-1',
    stepId: 'a',
    kind: 'agent',
    agent: 'researcher',
    parent: null,
    status: 'succeeded',
    dependsOn: [],
    optional: false,
    input: { task: 'look' },
    output: 'found it',
    usage: { inputTokens: 3, outputTokens: 4 },
    model: 'echo',
    attempts: 1,
    recovered: false,
    reusedFrom: null,
    error: null,
    reason: null,
    retryAt: null,
    createdAt: '2025-01-01T10:00:01.000Z',
    startedAt: '2025-01-01T10:00:01.000Z',
    finishedAt: '2025-01-01T10:00:05.000Z',
    feedback: null,
    debug: null,
    calls: null,
    routing: null,
    ...overrides,
  };
}

const events: RunEvent[] = [
  { id: '1735725600000-0', type: 'run.queued', runId: 'run-1', at: '2025-01-01T10:00:00.000Z', data: {} },
  { id: '1735725601000-0', type: 'step.started', runId: 'run-1', stepId: 'a', at: '2025-01-01T10:00:01.000Z', data: { attempt: 1 } },
];

/** The ValidationError a document raises, or null when it is valid. */
async function validationError(doc: { validate(): Promise<void> }): Promise<mongoose.Error.ValidationError | null> {
  try {
    await doc.validate();
    return null;
  } catch (err) {
    if (err instanceof mongoose.Error.ValidationError) return err;
    throw err;
  }
}

describe('mongo documents (offline)', () => {
  // Models on a connection that is never opened: validation needs no server.
  const conn = createConnection();
  const models = createModels(conn);

  afterAll(async () => {
    await conn.close();
  });

  it('maps a run to a document keyed by run id, with Dates and its definition as JSON text, that validates', async () => {
    const definition = { name: 'research', steps: [{ id: 'a', context: { 'a.b': 1, $x: 2 } }] };
    const doc = toRunDocument(run(), definition);
    expect(doc._id).toBe('run-1');
    expect(doc.createdAt).toEqual(new Date('2025-01-01T10:00:00.000Z'));
    // Keys MongoDB refuses (dots, a leading $) are safe inside the text.
    expect(definitionOf(doc)).toEqual(definition);
    expect(definitionOf(toRunDocument(run()))).toBeUndefined();
    expect(await validationError(new models.Run(doc))).toBeNull();
    // Empty objects survive (minimize is off), so `input` comes back as it went in.
    expect(new models.Run(doc).toObject().input).toEqual({ topic: 'queues', nested: {} });
  });

  it('maps each event to a document of its own, keyed by run and event id and ordered by seq', async () => {
    const docs = events.map((e) => toEventDocument(e, 'acme'));
    expect(docs[1]).toEqual({
      _id: 'run-1/1735725601000-0',
      runId: 'run-1',
      workspaceId: 'acme',
      seq: sortableEntryId('1735725601000-0'),
      id: '1735725601000-0',
      type: 'step.started',
      stepId: 'a',
      at: new Date('2025-01-01T10:00:01.000Z'),
      data: { attempt: 1 },
    });
    for (const d of docs) expect(await validationError(new models.RunEvent(d))).toBeNull();
    expect(docs.map((d) => fromEventDocument(new models.RunEvent(d).toObject()))).toEqual(events);
    // Written once each: a repeated or partial log inserts nothing that is there.
    expect(eventUpserts({ events })[0]).toEqual({
      updateOne: {
        filter: { _id: 'run-1/1735725600000-0' },
        update: { $setOnInsert: expect.objectContaining({ type: 'run.queued', runId: 'run-1' }) },
        upsert: true,
      },
    });
  });

  it('maps a step to a document keyed by runId.stepId that validates, also with nulls', async () => {
    const doc = toStepDocument(step());
    expect(doc._id).toBe('run-1.a');
    expect(doc.finishedAt).toEqual(new Date('2025-01-01T10:00:05.000Z'));
    expect(await validationError(new models.StepResult(doc))).toBeNull();
    const pending = toStepDocument(step({ status: 'pending', output: null, usage: null, model: null, startedAt: null, finishedAt: null, input: null }));
    expect(await validationError(new models.StepResult(pending))).toBeNull();
  });

  it('rejects a run with an unknown status, naming the path', async () => {
    const bad = toRunDocument(run({ status: 'exploded' as RunRecord['status'] }));
    const err = await validationError(new models.Run(bad));
    expect(Object.keys(err?.errors ?? {})).toEqual(['status']);
  });

  it('rejects a step with an unknown status or an unreadable date, naming the paths', async () => {
    const bad = toStepDocument(step({ status: 'lost' as StepRecord['status'], createdAt: 'yesterday' }));
    const err = await validationError(new models.StepResult(bad));
    expect(Object.keys(err?.errors ?? {}).sort()).toEqual(['createdAt', 'status']);
  });

  it('maps a stored run back to the record it came from', () => {
    expect(fromRunDocument(toRunDocument(run(), { name: 'x' }))).toEqual(run());
  });

  // Through a mongoose document and back to a plain object, as a read returns it.
  it('maps a stored step back to the record it came from, also with nulls', () => {
    const back = (s: StepRecord) => fromStepDocument(new models.StepResult(toStepDocument(s)).toObject({ versionKey: true }));
    expect(back(step())).toEqual(step());
    const pending = step({ status: 'pending', output: null, usage: null, model: null, startedAt: null, finishedAt: null, input: null });
    expect(back(pending)).toEqual(pending);
  });

  it('keeps what a step keeps to debug its calls (its tool schemas with $-keys) as text, and the class of its error, and maps them back', async () => {
    const debug = {
      attempt: 2,
      truncated: true,
      request: {
        model: 'm',
        messages: [{ role: 'user', content: 'judge' }],
        tools: [{ name: 'answer', inputSchema: { $schema: 'https://json-schema.org/draft/2020-12/schema', 'a.b': {} } }],
      },
      error: { status: 400, type: 'invalid_request_error', message: 'bad' },
    };
    const calls = [{ turn: 1, id: 'c1', name: 'delegate', args: { agent: 'x', $odd: 1 }, error: 'no agent "x"' }];
    const failed = step({ status: 'failed', output: null, error: 'bad', errorClass: 'NonRetryableError', debug, calls });
    const doc = toStepDocument(failed);
    expect(typeof doc.debug).toBe('string');
    expect(await validationError(new models.StepResult(doc))).toBeNull();
    expect(fromStepDocument(new models.StepResult(doc).toObject())).toEqual(failed);
    // A document written before they were kept reads as none.
    const { debug: _d, calls: _c, ...older } = doc;
    expect(fromStepDocument(older)).toMatchObject({ debug: null, calls: null });
  });

  it('maps a step added at run time (with its parent, recovered) back to the record it came from', () => {
    const grown = step({ stepId: 'plan.1', parent: 'plan', recovered: true, output: { json: true } });
    expect(fromStepDocument(new models.StepResult(toStepDocument(grown)).toObject())).toEqual(grown);
  });

  it('tells documents MongoDB can never accept from outages', async () => {
    const invalid = await validationError(new models.Run(toRunDocument(run({ status: 'x' as RunRecord['status'] }))));
    expect(isPermanentMongoError(invalid)).toBe(true);
    expect(isPermanentMongoError(new mongo.MongoServerError({ code: 52, errmsg: '$-prefixed field' }))).toBe(true);
    expect(isPermanentMongoError(new mongo.MongoServerError({ code: 11600, errmsg: 'interrupted at shutdown' }))).toBe(false);
    expect(isPermanentMongoError(new mongo.MongoNetworkError('connection reset'))).toBe(false);
    expect(isPermanentMongoError(new Error('anything else'))).toBe(false);
  });

  it('orders outbox entry ids by number once made sortable', () => {
    const ids = ['1735725600000-10', '1735725600000-9', '999-0', '1735725600001-0'];
    const sorted = [...ids].sort((a, b) => (sortableEntryId(a) < sortableEntryId(b) ? -1 : 1));
    expect(sorted).toEqual(['999-0', '1735725600000-9', '1735725600000-10', '1735725600001-0']);
  });

  it('refuses a cursor it did not issue', async () => {
    await expect(listRunsFromMongo(models, { workspaceId: 'default', limit: 10, cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(ValidationError);
    await expect(listRunsFromMongo(models, { workspaceId: 'default', limit: 0 })).rejects.toBeInstanceOf(ValidationError);
  });

  it('starts with MongoDB down: ping is false and writes fail as an outage, not as a bad record', async () => {
    // Port 1 refuses connections: an outage without a server.
    const handle = await connectMongo('mongodb://127.0.0.1:1/switchyard', silentLogger, { serverSelectionTimeoutMS: 200 });
    try {
      expect(await handle.ping()).toBe(false);
      const err = await handle.sink.writeStep(step()).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(NonRetryableError);
    } finally {
      await handle.close();
    }
  });
});

describe.skipIf(!process.env.MONGODB_URI)('mongo sink and listing (needs MONGODB_URI)', () => {
  let handle: MongoHandle;
  let db: Connection;
  let models: MongoModels;
  let sink: MongoSink;

  beforeAll(async () => {
    handle = await connectMongo(process.env.MONGODB_URI ?? '', silentLogger, { serverSelectionTimeoutMS: 5000 });
    expect(await handle.ping()).toBe(true);
    // A database of its own on the same client, dropped afterwards: other data is untouched.
    db = handle.conn.useDb(`sytest_outbox_${randomBytes(4).toString('hex')}`, { useCache: false });
    models = createModels(db);
    sink = new MongoSink({ models });
    await models.Run.init();
    await models.StepResult.init();
    await models.RunEvent.init();
  });

  afterAll(async () => {
    await db?.dropDatabase();
    await handle?.close();
  });

  it('upserts the same run twice into one document holding the latest state, each event once', async () => {
    await sink.writeRun({ doc: run({ id: 'twice', status: 'running', finishedAt: null }), events: [], definition: { name: 'research' } }, { entryId: '100-0' });
    const mine = events.map((e) => ({ ...e, runId: 'twice' }));
    await sink.writeRun({ doc: run({ id: 'twice' }), events: mine }, { entryId: '200-0' });
    await sink.writeRun({ doc: run({ id: 'twice' }), events: mine }, { entryId: '200-0' });

    expect(await models.Run.countDocuments({ _id: 'twice' })).toBe(1);
    const stored = await models.Run.findById('twice').lean().exec();
    expect(stored?.status).toBe('succeeded');
    expect(stored && definitionOf(stored)).toEqual({ name: 'research' });
    expect(await models.RunEvent.countDocuments({ runId: 'twice' })).toBe(events.length);
  });

  it('never lets an older outbox entry overwrite a newer state', async () => {
    await sink.writeRun({ doc: run({ id: 'late' }), events: [] }, { entryId: '1735725600000-10' });
    await sink.writeRun({ doc: run({ id: 'late', status: 'running' }), events: [] }, { entryId: '1735725600000-9' });
    expect((await models.Run.findById('late').lean().exec())?.status).toBe('succeeded');
    await sink.writeRun({ doc: run({ id: 'late', status: 'failed' }), events: [] }, { entryId: '1735725600001-0' });
    expect((await models.Run.findById('late').lean().exec())?.status).toBe('failed');
  });

  it('serves an archived run, its steps, its definition and its event log back in the API shape', async () => {
    await sink.writeRun(
      { doc: run({ id: 'arch' }), events: events.map((e) => ({ ...e, runId: 'arch' })), definition: { name: 'research' } },
      { entryId: '1-0' },
    );
    await sink.writeStep(step({ runId: 'arch' }), { entryId: '2-0' });
    const archive = createMongoArchive(models);
    const view = await archive.getRun('default', 'arch');
    expect(view).toMatchObject({ ...run({ id: 'arch' }), steps: [step({ runId: 'arch' })] });
    expect(view?.definition).toBeUndefined();
    expect((await archive.getRun('default', 'arch', { definition: true }))?.definition).toEqual({ name: 'research' });
    expect(await archive.getEvents('default', 'arch')).toEqual(events.map((e) => ({ ...e, runId: 'arch' })));
    expect(await archive.getRun('default', 'nope')).toBeNull();
    expect(await archive.getEvents('default', 'nope')).toBeNull();
    // Another workspace's run is not found.
    expect(await archive.getRun('other', 'arch')).toBeNull();
    expect(await archive.getEvents('other', 'arch')).toBeNull();
  });

  it('upserts a step result keyed by (runId, stepId)', async () => {
    await sink.writeStep(step({ runId: 'steps', status: 'running', output: null }), { entryId: '1-0' });
    await sink.writeStep(step({ runId: 'steps' }), { entryId: '2-0' });
    expect(await models.StepResult.countDocuments({ runId: 'steps' })).toBe(1);
    expect((await models.StepResult.findById('steps.a').lean().exec())?.output).toBe('found it');
  });

  it('refuses a record MongoDB cannot store as non-retryable', async () => {
    await expect(sink.writeStep(step({ runId: 'bad', status: 'lost' as StepRecord['status'] }))).rejects.toBeInstanceOf(NonRetryableError);
  });

  it('lists runs newest first, filtered, page by page with a cursor', async () => {
    // Two runs share a timestamp, so the id tie-break is exercised.
    const seeds: RunRecord[] = [
      run({ id: 'list-1', workflow: 'wf-a', status: 'succeeded', agents: ['x'], createdAt: '2025-02-01T00:00:01.000Z' }),
      run({ id: 'list-2', workflow: 'wf-b', status: 'failed', agents: ['y'], createdAt: '2025-02-01T00:00:02.000Z' }),
      run({ id: 'list-3', workflow: 'wf-a', status: 'failed', agents: ['x', 'y'], createdAt: '2025-02-01T00:00:03.000Z' }),
      run({ id: 'list-4', workflow: 'wf-a', status: 'succeeded', agents: ['y'], createdAt: '2025-02-01T00:00:03.000Z' }),
      run({ id: 'list-5', workflow: 'wf-b', status: 'succeeded', agents: ['x'], createdAt: '2025-02-01T00:00:05.000Z' }),
    ];
    for (const r of seeds) await sink.writeRun({ doc: r, events: [] });
    await sink.writeRun({ doc: run({ id: 'list-other', workspaceId: 'other', createdAt: '2025-02-01T00:00:04.000Z' }), events: [] });

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listRunsFromMongo(models, { workspaceId: 'default', limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.runs.filter((r) => r.id.startsWith('list-')).map((r) => r.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    // Another workspace's run is never listed.
    expect(seen).toEqual(['list-5', 'list-4', 'list-3', 'list-2', 'list-1']);

    const ids = async (q: Omit<Parameters<typeof listRunsFromMongo>[1], 'workspaceId'>) =>
      (await listRunsFromMongo(models, { workspaceId: 'default', ...q })).runs.map((r) => r.id).filter((id) => id.startsWith('list-'));
    expect(await ids({ limit: 10, status: 'failed' })).toEqual(['list-3', 'list-2']);
    expect(await ids({ limit: 10, workflow: 'wf-a' })).toEqual(['list-4', 'list-3', 'list-1']);
    expect(await ids({ limit: 10, agent: 'x', status: 'succeeded' })).toEqual(['list-5', 'list-1']);
    const first = await listRunsFromMongo(models, { workspaceId: 'default', limit: 1, workflow: 'wf-a' });
    expect(first.runs.map((r) => r.id)).toEqual(['list-4']);
    expect(await ids({ limit: 10, workflow: 'wf-a', cursor: first.nextCursor ?? '' })).toEqual(['list-3', 'list-1']);
    // A summary by default; input and output on request.
    expect(first.runs[0]).toEqual(toSummary(seeds[3]!, []));
    expect((await listRunsFromMongo(models, { workspaceId: 'default', limit: 1, workflow: 'wf-a', include: ['input', 'output'] })).runs[0]).toEqual(seeds[3]);
  });
});
