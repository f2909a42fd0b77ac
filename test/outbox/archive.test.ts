/**
 * A run past Redis retention is read from the archive (MongoDB in production): its record,
 * steps and DAG (`GET /v1/runs/:id`) and its event log (`GET /v1/runs/:id/events`, with
 * Last-Event-ID). No MongoDB server exists here, so the archive is an in-memory one that
 * stores what the real mappers produce (documents built and read back through the mongoose
 * models, offline) and answers like `createMongoArchive`; that function itself is tested
 * against a server in outbox.mongo.test.ts when MONGODB_URI is set.
 */
import { createConnection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createModels,
  definitionOf,
  fromEventDocument,
  fromRunDocument,
  fromStepDocument,
  toEventDocument,
  toRunDocument,
  toStepDocument,
  type EventDocument,
  type RunDocument,
  type StepDocument,
} from '../../src/outbox/mongo/index.js';
import { keys } from '../../src/store/keys.js';
import type { RunArchive } from '../../src/query/run-queries.js';
import { toRunView } from '../../src/query/run-view.js';
import type { RunEvent, RunRecord } from '../../src/model/run.js';
import type { CompiledWorkflow } from '../../src/kinds/definition.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { readEventStream } from '../helpers/sse.js';

const conn = createConnection();
const models = createModels(conn);

/** Holds documents as a MongoDB read returns them; `down` simulates an outage. */
class MemoryArchive implements RunArchive {
  readonly runs = new Map<string, RunDocument>();
  readonly steps = new Map<string, StepDocument[]>();
  readonly events = new Map<string, EventDocument[]>();
  down = false;

  put(runId: string, run: Parameters<typeof toRunDocument>[0], steps: Parameters<typeof toStepDocument>[0][], events: RunEvent[], definition: unknown): void {
    this.runs.set(runId, new models.Run(toRunDocument(run, definition)).toObject());
    this.steps.set(
      runId,
      steps.map((s) => new models.StepResult(toStepDocument(s)).toObject() as StepDocument),
    );
    this.events.set(
      runId,
      events.map((e) => new models.RunEvent(toEventDocument(e)).toObject() as EventDocument),
    );
  }

  private check(): void {
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:27017');
  }

  async getRun(workspaceId: string, id: string, opts: { definition?: boolean } = {}) {
    this.check();
    const doc = this.runs.get(id);
    if (!doc || doc.workspaceId !== workspaceId) return null;
    const view = toRunView(fromRunDocument(doc), (this.steps.get(id) ?? []).map(fromStepDocument));
    return opts.definition ? { ...view, definition: definitionOf(doc) as CompiledWorkflow } : view;
  }

  async getEvents(workspaceId: string, id: string) {
    this.check();
    return this.runs.get(id)?.workspaceId === workspaceId ? (this.events.get(id) ?? []).map(fromEventDocument) : null;
  }

  async listRuns() {
    this.check();
    return { runs: [...this.runs.values()].map(fromRunDocument), nextCursor: null };
  }
}

const archive = new MemoryArchive();
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'archive',
    agents: { fast: { provider: 'echo', echo: { latencyMs: 5 } } },
    workflows: [
      {
        name: 'pair',
        steps: [
          {
            sequential: [
              { id: 'first', agent: 'fast', input: { task: 'one' } },
              { id: 'second', agent: 'fast', input: { task: 'two: {{steps.first.output}}' } },
            ],
          },
        ],
      },
    ],
    archive,
  });
});

afterAll(async () => {
  await h?.close();
  await conn.close();
  assertAllClosed();
});

/** Run `pair` to the end, archive it (with `extra` on its record), then drop its live state from Redis as retention would. */
async function archivedRun(extra: Partial<RunRecord> = {}): Promise<{ id: string; events: RunEvent[] }> {
  const res = await h.request('POST', '/v1/runs', { workflow: 'pair', input: {} });
  expect(res.status).toBe(202);
  const id: string = res.body.id;
  const view = await h.waitForRun(id);
  expect(view.status).toBe('succeeded');
  const events = await h.system.engine.store.events.read(h.system.scope(), id);
  expect(events.at(-1)?.type).toBe('run.finished');
  const { steps, dag: _dag, ...run } = view;
  archive.put(id, { ...run, status: 'succeeded', ...extra }, steps, events, await h.system.engine.store.records.definition(h.system.scope(), id));
  const redis = h.system.engine.store.redis;
  await redis.del(
    keys.run(h.system.scope(), id),
    keys.runSteps(h.system.scope(), id),
    keys.runRefs(h.system.scope(), id),
    keys.events(h.system.scope(), id),
    ...steps.map((s) => keys.step(h.system.scope(), id, s.stepId)),
  );
  expect(await h.system.engine.store.records.status(h.system.scope(), id)).toBeNull();
  return { id, events };
}

describe('a run past Redis retention', () => {
  it('is read back from the archive with its steps and DAG', async () => {
    const { id } = await archivedRun();
    const got = await h.request('GET', `/v1/runs/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, status: 'succeeded', workflow: 'pair', output: '[fast] two: [fast] one' });
    expect(got.body.steps.map((s: { stepId: string; status: string }) => [s.stepId, s.status])).toEqual([
      ['first', 'succeeded'],
      ['second', 'succeeded'],
    ]);
    expect(got.body.dag.edges).toEqual([{ from: 'first', to: 'second' }]);
  });

  it('keeps the definition it executed, readable with ?include=definition', async () => {
    const { id } = await archivedRun();
    const got = await h.request('GET', `/v1/runs/${id}?include=definition`);
    expect(got.status).toBe(200);
    expect(got.body.definition).toMatchObject({
      name: 'pair',
      steps: [
        { id: 'first', kind: 'agent' },
        { id: 'second', kind: 'agent', dependsOn: ['first'] },
      ],
    });
    expect((await h.request('GET', `/v1/runs/${id}`)).body.definition).toBeUndefined();
  });

  it('keeps its work outputs with its record: GET /v1/runs/:id/outputs reads them from the archive', async () => {
    const output = {
      name: 'Positioning Strategy',
      format: 'markdown' as const,
      content: '# Position',
      stepId: 'second',
      turn: 1,
      callKey: 'x.second.1.c1',
      createdAt: new Date().toISOString(),
      updatedAt: null,
    };
    const { id } = await archivedRun({ outputs: [output] });
    const got = await h.request('GET', `/v1/runs/${id}/outputs`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ runId: id, outputs: [output] });
    expect((await h.request('GET', `/v1/runs/${id}`)).body.outputs).toEqual([output]);
    expect((await h.request('GET', '/v1/runs/run_never_was/outputs')).status).toBe(404);
  });

  it('serves its whole event log as SSE from the archive, in order, and ends', async () => {
    const { id, events } = await archivedRun();
    const sse = await readEventStream(h.baseUrl, id);
    expect(sse.status).toBe(200);
    expect(sse.contentType).toContain('text/event-stream');
    expect(sse.events.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(sse.events.map((e) => e.data)).toEqual(events);
    expect(sse.events.map((e) => e.event)).toEqual(events.map((e) => e.type));
  });

  it('replays only what follows Last-Event-ID, and answers 204 after the last event', async () => {
    const { id, events } = await archivedRun();
    const pivot = events.findIndex((e) => e.type === 'step.started' && e.stepId === 'second');
    expect(pivot).toBeGreaterThan(0);
    const tail = await readEventStream(h.baseUrl, id, { 'Last-Event-ID': events[pivot]!.id });
    expect(tail.events.map((e) => e.id)).toEqual(events.slice(pivot + 1).map((e) => e.id));
    const after = await fetch(`${h.baseUrl}/v1/runs/${id}/events?after=${events.at(-1)!.id}`, { signal: AbortSignal.timeout(5_000) });
    expect(after.status).toBe(204);
    expect(await after.text()).toBe('');
  });

  it('answers 404 when the archive does not have the run either, and 503 while the archive is down', async () => {
    expect((await h.request('GET', '/v1/runs/run_never_was/events')).status).toBe(404);
    const { id } = await archivedRun();
    archive.down = true;
    try {
      for (const path of [`/v1/runs/${id}`, `/v1/runs/${id}/events`]) {
        const res = await h.request('GET', path);
        expect(res.status, path).toBe(503);
        expect(res.body.error.message).toContain('archive');
      }
    } finally {
      archive.down = false;
    }
  });
});
