/**
 * The engine feeds the outbox atomically with its state changes: every finished step and run
 * reaches the result sink exactly once, as a valid record, with the run's ordered events.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { OutboxConsumer } from '../../src/outbox/outbox-consumer.js';
import type { ResultSink, RunWrite } from '../../src/outbox/sink.js';
import { RunRecord, StepRecord } from '../../src/model/run.js';
import type { AuditEntry } from '../../src/model/audit.js';
import { CompiledWorkflow } from '../../src/kinds/definition.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

class MemorySink implements ResultSink {
  runs: RunWrite[] = [];
  steps: StepRecord[] = [];
  failNext = 0;
  async writeRun(write: RunWrite) {
    if (this.failNext-- > 0) throw new Error('sink down');
    this.runs.push(write);
  }
  async writeStep(doc: StepRecord) {
    if (this.failNext-- > 0) throw new Error('sink down');
    this.steps.push(doc);
  }
  audits: AuditEntry[] = [];
  async writeAudit(doc: AuditEntry) {
    this.audits.push(doc);
  }
  async writeConversation() {}
  async close() {}
}

let h: Harness;
let consumer: OutboxConsumer;
const sink = new MemorySink();

beforeAll(async () => {
  h = await startHarness({
    name: 'outbox-engine',
    outbox: true,
    agents: { a: { provider: 'echo', echo: { latencyMs: 10 } } },
    workflows: [
      {
        name: 'three',
        steps: [
          { id: 'first', agent: 'a', input: { task: 'one' } },
          { id: 'skipme', agent: 'a', input: { task: 'two' }, dependsOn: ['first'], when: 'false' },
          { id: 'last', agent: 'a', input: { task: 'after {{steps.first.output}}' }, dependsOn: ['first'] },
        ],
      },
    ],
  });
  sink.failNext = 2; // the sink is down at first: results wait in the outbox
  consumer = new OutboxConsumer({
    redis: h.system.engine.store.redis,
    cell: h.system.cell,
    sink,
    logger: silentLogger,
    blockMs: 200,
    retryDelayMs: { min: 20, max: 100 },
  });
  await consumer.start();
});

afterAll(async () => {
  await consumer?.stop();
  await h?.close();
  assertAllClosed();
});

it('delivers every finished step once and each state of the run, as valid records with ordered events', async () => {
  const res = await h.request('POST', '/v1/runs', { workflow: 'three', input: {} });
  const run = await h.waitForRun(res.body.id);
  expect(run.status).toBe('succeeded');

  // The run's states reach the sink in order: queued, running, then finished.
  await expect.poll(() => sink.runs.map((r) => r.doc.status), { timeout: 5000 }).toEqual(['queued', 'running', 'succeeded']);
  await expect.poll(() => sink.steps.length).toBe(3);
  expect(sink.steps.map((s) => `${s.stepId}:${s.status}`).sort()).toEqual(['first:succeeded', 'last:succeeded', 'skipme:skipped']);
  for (const s of sink.steps) expect(StepRecord.safeParse(s).success).toBe(true);
  // Empty arrays stay arrays (the Lua side never re-encodes JSON).
  expect(sink.steps.find((s) => s.stepId === 'first')!.dependsOn).toEqual([]);

  for (const r of sink.runs) expect(RunRecord.safeParse(r.doc).success).toBe(true);
  // The definition the run executes travels once, with its first state; events with its last.
  expect(CompiledWorkflow.parse(sink.runs[0]!.definition)).toMatchObject({ name: 'three', steps: [{ id: 'first' }, { id: 'skipme' }, { id: 'last' }] });
  expect(sink.runs.slice(1).map((r) => r.definition)).toEqual([undefined, undefined]);
  expect(sink.runs.slice(0, 2).map((r) => r.events)).toEqual([[], []]);
  const { doc, events } = sink.runs.at(-1)!;
  expect(RunRecord.safeParse(doc).success).toBe(true);
  expect(doc).toMatchObject({ id: res.body.id, status: 'succeeded', failedSteps: [], skippedSteps: ['skipme'], output: run.output });
  expect(events[0]!.type).toBe('run.queued');
  expect(events.at(-1)!.type).toBe('run.finished');
  expect(consumer.stats().failures).toBeGreaterThanOrEqual(2);
});

it("delivers a single-step run's step and states once, its end written in its step's result write", async () => {
  const res = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'alone' } });
  expect(res.status).toBe(202);
  const run = await h.waitForRun(res.body.id);
  expect(run.status).toBe('succeeded');
  const mine = () => sink.runs.filter((r) => r.doc.id === res.body.id);
  await expect.poll(() => mine().map((r) => r.doc.status), { timeout: 5000 }).toEqual(['queued', 'running', 'succeeded']);
  await expect.poll(() => sink.steps.filter((s) => s.runId === res.body.id).length).toBe(1);
  const step = sink.steps.find((s) => s.runId === res.body.id)!;
  expect(StepRecord.safeParse(step).success).toBe(true);
  expect(step).toMatchObject({ stepId: 'a', status: 'succeeded', output: run.output, attempts: 1, dependsOn: [] });
  const { doc, events } = mine().at(-1)!;
  expect(RunRecord.safeParse(doc).success).toBe(true);
  expect(doc).toMatchObject({ status: 'succeeded', output: run.output, usage: step.usage, failedSteps: [], skippedSteps: [] });
  expect(events.map((e) => e.type)).toEqual(['run.queued', 'run.started', 'step.started', 'step.completed', 'run.finished']);
  // The run as the API reads it back from its compacted hash: the same record and events.
  const read = await h.request('GET', `/v1/runs/${res.body.id}`);
  expect(read.body).toMatchObject({ status: 'succeeded', output: run.output, steps: [{ stepId: 'a', status: 'succeeded', usage: step.usage }] });
});
