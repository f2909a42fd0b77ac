/**
 * Workflow runs end to end on the real Redis: a DAG becomes one BullMQ flow, each step starts
 * as soon as its own dependencies are done, shared steps run once, `when` and optional steps
 * shape the run, failures end every branch with nothing left in Redis, and the run can be
 * read back over HTTP (record, DAG, listing, SSE event log).
 *
 * No wall-clock thresholds: orderings are asserted on the recorded startedAt/finishedAt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import type { StepRecord } from '../../src/model/run.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { unique } from '../helpers/redis.js';
import { parseSse, readEventStream as readEventStreamAt } from '../helpers/sse.js';

let fake: FakeLlmServer;
let h: Harness;

const WORKFLOWS: Record<string, unknown>[] = [
  {
    name: 'seq',
    input: { topic: { type: 'string' } },
    steps: [
      {
        sequential: [
          { id: 'outline', agent: 'fast', input: { task: 'Outline {{input.topic}}' } },
          { id: 'draft', agent: 'fast', input: { task: 'Draft from: {{steps.outline.output}}' } },
          { id: 'polish', agent: 'fast', input: { task: 'Polish: {{ steps.draft.output }}' } },
        ],
      },
    ],
  },
  {
    name: 'par',
    steps: [
      {
        parallel: [
          { id: 'left', agent: 'mid', input: { task: 'left side' } },
          { id: 'right', agent: 'mid', input: { task: 'right side' } },
        ],
      },
    ],
  },
  {
    name: 'diamond',
    input: { pr: { type: 'string' } },
    steps: [
      {
        sequential: [
          { id: 'analyse', agent: 'llm', input: { task: 'Analyse PR {{input.pr}}' } },
          {
            parallel: [
              { id: 'fixes', agent: 'fast', input: { task: 'Fix: {{steps.analyse.output}}' } },
              { id: 'security', agent: 'fast', input: { task: 'Secure: {{steps.analyse.output}}' } },
            ],
          },
          { id: 'synthesize', agent: 'fast', input: { task: 'Merge <{{steps.fixes.output}}> and <{{steps.security.output}}>' } },
        ],
      },
    ],
  },
  {
    name: 'uneven',
    steps: [
      { id: 'deep', agent: 'slow', input: { task: 'deep dive' } },
      {
        sequential: [
          { id: 'f1', agent: 'fast', input: { task: 'quick one' } },
          { id: 'f2', agent: 'fast', input: { task: 'quick two after {{steps.f1.output}}' } },
          { id: 'f3', agent: 'fast', input: { task: 'quick three after {{steps.f2.output}}' } },
        ],
      },
      { id: 'join', agent: 'fast', dependsOn: ['deep', 'f3'], input: { task: 'join {{steps.deep.output}} + {{steps.f3.output}}' } },
    ],
  },
  {
    name: 'gated',
    input: { publish: { type: 'boolean', default: false } },
    steps: [
      { id: 'write', agent: 'fast', input: { task: 'write the post' } },
      { id: 'publish', agent: 'fast', dependsOn: ['write'], when: 'input.publish == true', input: { task: 'publish {{steps.write.output}}' } },
      { id: 'announce', agent: 'fast', dependsOn: ['publish'], input: { task: 'announce {{steps.publish.output}}' } },
      { id: 'report', agent: 'fast', dependsOn: ['publish'], allowSkippedDeps: true, input: { task: 'report: published=[{{steps.publish.output}}]' } },
    ],
  },
  {
    name: 'approval',
    input: { doc: { type: 'string' } },
    steps: [
      { id: 'review', agent: 'llm', input: { task: 'Review {{input.doc}} [[reply:{"approve": false, "notes": "too long"}]]' } },
      { id: 'ship', agent: 'fast', dependsOn: ['review'], when: 'steps.review.output.approve == true', input: { task: 'ship it' } },
      {
        id: 'revise',
        agent: 'fast',
        dependsOn: ['review'],
        when: 'steps.review.output.approve == false',
        input: { task: 'revise: {{steps.review.output.notes}}' },
      },
    ],
  },
  {
    name: 'optional-fail',
    input: { tag: { type: 'string' } },
    steps: [
      { id: 'extra', agent: 'llm', optional: true, input: { task: 'extra {{input.tag}} [[status:400]]' } },
      { id: 'main', agent: 'fast', input: { task: 'main {{input.tag}}' } },
      { id: 'after', agent: 'fast', dependsOn: ['extra', 'main'], input: { task: 'after extra=[{{steps.extra.output}}] main=[{{steps.main.output}}]' } },
    ],
  },
  {
    name: 'required-fail',
    input: { tag: { type: 'string' } },
    steps: [
      { id: 'lint', agent: 'llm', input: { task: 'lint {{input.tag}} [[status:400]]' } },
      { id: 'publish', agent: 'fast', dependsOn: ['lint'], input: { task: 'publish' } },
      {
        sequential: [
          { id: 'build', agent: 'slow', input: { task: 'build' } },
          { id: 'deploy', agent: 'fast', input: { task: 'deploy {{steps.build.output}}' } },
        ],
      },
    ],
  },
  {
    name: 'diamond-fail',
    input: { tag: { type: 'string' } },
    steps: [
      {
        sequential: [
          { id: 'analyse', agent: 'llm', input: { task: 'analyse {{input.tag}} [[status:400]]' } },
          {
            parallel: [
              { id: 'fixes', agent: 'fast', input: { task: 'Fix: {{steps.analyse.output}}' } },
              { id: 'security', agent: 'fast', input: { task: 'Secure: {{steps.analyse.output}}' } },
            ],
          },
          { id: 'synthesize', agent: 'fast', input: { task: 'Merge {{steps.fixes.output}} {{steps.security.output}}' } },
        ],
      },
    ],
  },
  {
    name: 'diamond-optional',
    input: { tag: { type: 'string' } },
    steps: [
      {
        sequential: [
          { id: 'analyse', agent: 'llm', optional: true, input: { task: 'analyse {{input.tag}} [[status:400]]' } },
          {
            parallel: [
              { id: 'fixes', agent: 'fast', input: { task: 'Fix: [{{steps.analyse.output}}]' } },
              { id: 'security', agent: 'fast', input: { task: 'Secure: [{{steps.analyse.output}}]' } },
            ],
          },
          { id: 'synthesize', agent: 'fast', input: { task: 'Merge {{steps.fixes.output}} | {{steps.security.output}}' } },
        ],
      },
    ],
  },
  {
    name: 'paged',
    input: { text: { type: 'string' } },
    steps: [{ id: 'only', agent: 'llm', input: { task: '{{input.text}}' } }],
  },
];

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'runs-workflows',
    fake,
    agents: {
      fast: { provider: 'echo', echo: { latencyMs: 30 }, attempts: 1 },
      mid: { provider: 'echo', echo: { latencyMs: 300 }, attempts: 1 },
      slow: { provider: 'echo', echo: { latencyMs: 600 }, attempts: 1 },
      llm: { provider: 'openai', model: 'gpt-test', attempts: 1, backoff: { type: 'fixed', delayMs: 50 } },
    },
    workflows: WORKFLOWS,
  });
});

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

// ---------------------------------------------------------------------------------------
// Helpers

async function submit(workflow: string | Record<string, unknown>, input: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await h.request('POST', '/v1/runs', { workflow, input, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

async function runToEnd(workflow: string, input: Record<string, unknown> = {}): Promise<RunView> {
  return h.waitForRun(await submit(workflow, input));
}

function step(run: RunView, id: string): StepRecord {
  const s = run.steps.find((x) => x.stepId === id);
  if (!s) throw new Error(`run ${run.id} has no step "${id}" (steps: ${run.steps.map((x) => x.stepId).join(', ')})`);
  return s;
}

const started = (s: StepRecord): number => {
  expect(s.startedAt, `${s.stepId}.startedAt`).not.toBeNull();
  return Date.parse(s.startedAt!);
};
const finished = (s: StepRecord): number => {
  expect(s.finishedAt, `${s.stepId}.finishedAt`).not.toBeNull();
  return Date.parse(s.finishedAt!);
};
const taskOf = (s: StepRecord): string => (s.input as { task: string }).task;

const readEventStream = (runId: string, headers: Record<string, string> = {}) => readEventStreamAt(h.baseUrl, runId, headers);

/** Stream ids `ms-seq` compare numerically. */
const streamIdLess = (a: string, b: string): boolean => {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am < bm || (am === bm && as < bs);
};

// ---------------------------------------------------------------------------------------

describe('a sequential workflow', () => {
  it('runs each step after its predecessor finished and hands it the predecessor output', async () => {
    const run = await runToEnd('seq', { topic: 'honeybees' });
    expect(run.status).toBe('succeeded');
    const [outline, draft, polish] = ['outline', 'draft', 'polish'].map((id) => step(run, id)) as [StepRecord, StepRecord, StepRecord];
    for (const s of [outline, draft, polish]) expect(s.status).toBe('succeeded');

    expect(taskOf(outline)).toBe('Outline honeybees');
    expect(outline.output).toBe('[fast] Outline honeybees');
    expect(taskOf(draft)).toBe(`Draft from: ${outline.output}`);
    expect(taskOf(polish)).toBe(`Polish: ${draft.output}`);
    expect(polish.output).toBe('[fast] Polish: [fast] Draft from: [fast] Outline honeybees');

    expect(started(draft)).toBeGreaterThanOrEqual(finished(outline));
    expect(started(polish)).toBeGreaterThanOrEqual(finished(draft));
    // The run output is the single output step's text.
    expect(run.output).toBe(polish.output);
  });
});

describe('a parallel workflow', () => {
  it('runs its steps side by side and outputs an object keyed by step id', async () => {
    const run = await runToEnd('par');
    expect(run.status).toBe('succeeded');
    const left = step(run, 'left');
    const right = step(run, 'right');
    expect(started(right)).toBeLessThan(finished(left));
    expect(started(left)).toBeLessThan(finished(right));
    expect(run.output).toEqual({ left: '[mid] left side', right: '[mid] right side' });
  });
});

describe('a diamond workflow (analyse → fixes, security → synthesize)', () => {
  it('runs the shared step exactly once and the join sees both branch outputs', async () => {
    const pr = unique('pr');
    const run = await runToEnd('diamond', { pr });
    expect(run.status).toBe('succeeded');

    const events = await h.system.engine.store.events.read(h.system.scope(), run.id);
    expect(events.filter((e) => e.type === 'step.started' && e.stepId === 'analyse')).toHaveLength(1);
    expect(fake.requests.filter((r) => r.prompt.includes(pr))).toHaveLength(1);

    const analyse = step(run, 'analyse');
    const fixes = step(run, 'fixes');
    const security = step(run, 'security');
    const synthesize = step(run, 'synthesize');
    expect(analyse.output).toBe(`fake gpt-test: Analyse PR ${pr}`);
    expect(taskOf(fixes)).toBe(`Fix: ${analyse.output}`);
    expect(taskOf(security)).toBe(`Secure: ${analyse.output}`);
    expect(taskOf(synthesize)).toBe(`Merge <${fixes.output}> and <${security.output}>`);
    for (const s of [fixes, security]) expect(started(s)).toBeGreaterThanOrEqual(finished(analyse));
    expect(started(synthesize)).toBeGreaterThanOrEqual(Math.max(finished(fixes), finished(security)));
    expect(run.output).toBe(synthesize.output);
  });

  it('shows the DAG of the definition in GET /v1/runs/:id', async () => {
    const id = await submit('diamond', { pr: unique('dag') });
    await h.waitForRun(id);
    const res = await h.request('GET', `/v1/runs/${id}`);
    expect(res.status).toBe(200);
    const nodes = res.body.dag.nodes as { id: string; agent: string; status: string; durationMs: number | null }[];
    expect(nodes.map((n) => [n.id, n.agent]).sort()).toEqual([
      ['analyse', 'llm'],
      ['fixes', 'fast'],
      ['security', 'fast'],
      ['synthesize', 'fast'],
    ]);
    for (const n of nodes) {
      expect(n.status).toBe('succeeded');
      expect(n.durationMs).toBeGreaterThanOrEqual(0);
    }
    const edges = (res.body.dag.edges as { from: string; to: string }[]).map((e) => `${e.from}->${e.to}`).sort();
    expect(edges).toEqual(['analyse->fixes', 'analyse->security', 'fixes->synthesize', 'security->synthesize']);
  });
});

describe('an uneven DAG (a slow step beside a chain of fast ones, then a join)', () => {
  it('starts each step as soon as its own dependencies are done, not when a whole level is done', async () => {
    const run = await runToEnd('uneven');
    expect(run.status).toBe('succeeded');
    const deep = step(run, 'deep');
    const [f1, f2, f3] = ['f1', 'f2', 'f3'].map((id) => step(run, id)) as [StepRecord, StepRecord, StepRecord];
    const join = step(run, 'join');

    expect(started(f2)).toBeGreaterThanOrEqual(finished(f1));
    expect(started(f3)).toBeGreaterThanOrEqual(finished(f2));
    // The 2nd and 3rd fast steps start while the slow step is still running.
    expect(started(f2)).toBeLessThan(finished(deep));
    expect(started(f3)).toBeLessThan(finished(deep));
    // The join waits for both branches.
    expect(started(join)).toBeGreaterThanOrEqual(finished(deep));
    expect(started(join)).toBeGreaterThanOrEqual(finished(f3));
    expect(taskOf(join)).toBe(`join ${deep.output} + ${f3.output}`);
  });
});

describe('conditions', () => {
  it('skips a step whose `when` is false, skips its dependents, and runs a dependent that allows skipped deps', async () => {
    const run = await runToEnd('gated', { publish: false });
    expect(run.status).toBe('succeeded');
    const publish = step(run, 'publish');
    expect(publish.status).toBe('skipped');
    expect(publish.reason).toMatch(/when/);
    expect(publish.reason).toContain('input.publish == true');
    expect(publish.startedAt).toBeNull();

    const announce = step(run, 'announce');
    expect(announce.status).toBe('skipped');
    expect(announce.reason).toContain('publish');

    const report = step(run, 'report');
    expect(report.status).toBe('succeeded');
    expect(taskOf(report)).toBe('report: published=[]');

    expect([...run.skippedSteps].sort()).toEqual(['announce', 'publish']);
    expect(run.output).toEqual({ announce: null, report: report.output });
  });

  it('runs the gated step when its `when` is true', async () => {
    const run = await runToEnd('gated', { publish: true });
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(run.skippedSteps).toEqual([]);
  });

  it('reads a JSON field of an earlier output in `when`', async () => {
    const run = await runToEnd('approval', { doc: unique('doc') });
    expect(run.status).toBe('succeeded');
    expect(step(run, 'review').output).toBe('{"approve": false, "notes": "too long"}');
    const ship = step(run, 'ship');
    expect(ship.status).toBe('skipped');
    expect(ship.reason).toContain('steps.review.output.approve == true');
    const revise = step(run, 'revise');
    expect(revise.status).toBe('succeeded');
    expect(taskOf(revise)).toBe('revise: too long');
  });
});

describe('failures', () => {
  it('ends partial_success when an optional step fails, and its dependents still run', async () => {
    const tag = unique('opt');
    const run = await runToEnd('optional-fail', { tag });
    expect(run.status).toBe('partial_success');
    const extra = step(run, 'extra');
    expect(extra.status).toBe('failed');
    expect(extra.error).toContain('400');
    expect(run.failedSteps).toEqual([{ stepId: 'extra', kind: 'agent', agent: 'llm', error: extra.error }]);
    expect(run.error).toBeNull();

    const after = step(run, 'after');
    expect(after.status).toBe('succeeded');
    expect(taskOf(after)).toBe(`after extra=[] main=[[fast] main ${tag}]`);
    expect(run.output).toBe(after.output);
    // A 400 is not retried.
    expect(fake.requests.filter((r) => r.prompt.includes(tag))).toHaveLength(1);
    await expectNoLiveJobs(h.system, run.id);
  });

  it('fails the run naming the failed required step, cancels steps not yet started and leaves no live jobs', async () => {
    const run = await runToEnd('required-fail', { tag: unique('req') });
    expect(run.status).toBe('failed');
    expect(run.error).toContain('"lint"');
    expect(step(run, 'lint').status).toBe('failed');
    expect(run.failedSteps.map((f) => f.stepId)).toEqual(['lint']);
    for (const id of ['publish', 'deploy']) {
      const s = step(run, id);
      expect(s.status, id).toBe('cancelled');
      expect(s.startedAt, id).toBeNull();
      expect(s.reason, id).toContain('lint');
    }
    // The slow step was pending or running when lint failed: either way it ends cancelled.
    expect(step(run, 'build').status).toBe('cancelled');
    await expectNoLiveJobs(h.system, run.id);
    // Nothing is resurrected afterwards.
    const again = await h.system.api.queries.get(h.system.scope(), run.id);
    expect(again.steps.map((s) => s.status).sort()).toEqual(['cancelled', 'cancelled', 'cancelled', 'failed']);
  });

  it('drains a diamond whose shared step fails while the other branch holds a sleeping ref', async () => {
    const run = await runToEnd('diamond-fail', { tag: unique('dfail') });
    expect(run.status).toBe('failed');
    expect(run.error).toContain('"analyse"');
    expect(step(run, 'analyse').status).toBe('failed');
    for (const id of ['fixes', 'security', 'synthesize']) {
      expect(step(run, id).status, id).toBe('cancelled');
      expect(step(run, id).startedAt, id).toBeNull();
    }
    // The ref of `security` sleeps 30 s by default: it must have been woken, not left delayed.
    await expectNoLiveJobs(h.system, run.id);
  });
});

describe('an optional shared step', () => {
  it('lets both dependents run when it fails, the ref holder included, and the run ends partial_success', async () => {
    const run = await runToEnd('diamond-optional', { tag: unique('dopt') });
    expect(run.status).toBe('partial_success');
    expect(run.failedSteps.map((f) => f.stepId)).toEqual(['analyse']);
    for (const id of ['fixes', 'security', 'synthesize']) expect(step(run, id).status, id).toBe('succeeded');
    expect(taskOf(step(run, 'security'))).toBe('Secure: []');
    expect(taskOf(step(run, 'synthesize'))).toBe('Merge [fast] Fix: [] | [fast] Secure: []');
    await expectNoLiveJobs(h.system, run.id);
  });
});

describe('idempotency', () => {
  it('returns the same run for a repeated workflow submission and refuses the key for a different input', async () => {
    const key = unique('idem');
    const first = await h.request('POST', '/v1/runs', { workflow: 'seq', input: { topic: 'idem' }, idempotencyKey: key });
    expect(first.status).toBe(202);
    expect(first.body.idempotentReplay).toBeUndefined();

    const second = await h.request('POST', '/v1/runs', { workflow: 'seq', input: { topic: 'idem' }, idempotencyKey: key });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ id: first.body.id, idempotentReplay: true });

    const conflict = await h.request('POST', '/v1/runs', { workflow: 'seq', input: { topic: 'something else' }, idempotencyKey: key });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.message).toContain(key);

    const run = await h.waitForRun(first.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.idempotencyKey).toBe(key);
  });
});

describe('idempotency under concurrency', () => {
  it('refuses a concurrent reuse of the key with a different input (409), never replaying a run of another input', async () => {
    const key = unique('idem-race');
    const [a, b] = await Promise.all([
      h.request('POST', '/v1/runs', { workflow: 'seq', input: { topic: 'first' }, idempotencyKey: key }),
      h.request('POST', '/v1/runs', { workflow: 'seq', input: { topic: 'second' }, idempotencyKey: key }),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses, JSON.stringify([a.body, b.body])).toEqual([202, 409]);
    const created = a.status === 202 ? a : b;
    expect((await h.waitForRun(created.body.id)).status).toBe('succeeded');
  });
});

describe('the event stream (SSE)', () => {
  it('yields the ordered events from run.queued to run.finished, then ends', async () => {
    const id = await submit('seq', { topic: 'streams' });
    const { status, contentType, events } = await readEventStream(id);
    expect(status).toBe(200);
    expect(contentType).toContain('text/event-stream');
    expect(events.length).toBeGreaterThan(2);
    expect(events[0]!.event).toBe('run.queued');
    expect(events.at(-1)!.event).toBe('run.finished');
    expect(events.filter((e) => e.event === 'run.finished')).toHaveLength(1);
    for (const e of events) {
      expect(e.data.type).toBe(e.event);
      expect(e.data.runId).toBe(id);
    }
    for (let i = 1; i < events.length; i++) expect(streamIdLess(events[i - 1]!.id, events[i]!.id), `${events[i - 1]!.id} < ${events[i]!.id}`).toBe(true);

    const order = events.map((e) => `${e.event}${e.data.stepId ? `:${e.data.stepId}` : ''}`);
    expect(order).toContain('run.started');
    const at = (x: string) => {
      expect(order).toContain(x);
      return order.indexOf(x);
    };
    expect(at('step.completed:outline')).toBeLessThan(at('step.started:draft'));
    expect(at('step.completed:draft')).toBeLessThan(at('step.started:polish'));
    expect(at('step.completed:polish')).toBeLessThan(at('run.finished'));
    expect((events.at(-1)!.data as { data?: { status?: string } }).data?.status).toBe('succeeded');
  });

  it('answers 404 for an unknown run and 400 for a Last-Event-ID that is not an event id', async () => {
    const missing = await h.request('GET', '/v1/runs/run_doesnotexist/events');
    expect(missing.status).toBe(404);
    const id = await submit('seq', { topic: 'bad-id' });
    const bad = await h.request('GET', `/v1/runs/${id}/events`, undefined, { 'Last-Event-ID': 'yesterday' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('yesterday');
    await h.waitForRun(id);
  });

  it('replays only the events after Last-Event-ID', async () => {
    const id = await submit('seq', { topic: 'replay' });
    await h.waitForRun(id);
    const all = (await readEventStream(id)).events;
    const pivot = all.findIndex((e) => e.event === 'step.started' && e.data.stepId === 'draft');
    expect(pivot).toBeGreaterThan(0);

    const replay = await readEventStream(id, { 'Last-Event-ID': all[pivot]!.id });
    expect(replay.status).toBe(200);
    expect(replay.events.map((e) => e.id)).toEqual(all.slice(pivot + 1).map((e) => e.id));
    expect(replay.events.at(-1)!.event).toBe('run.finished');
  });
  it('ends at once when a client reconnects after run.finished (Last-Event-ID of the last event)', async () => {
    // An EventSource reconnects by itself when a stream ends, sending the id of run.finished.
    const id = await submit('seq', { topic: 'reconnect' });
    await h.waitForRun(id);
    const last = (await readEventStream(id)).events.at(-1)!;
    expect(last.event).toBe('run.finished');

    const res = await fetch(`${h.baseUrl}/v1/runs/${id}/events`, { headers: { 'Last-Event-ID': last.id }, signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(204);
    const body = await res.text().then(
      (text) => ({ ended: true, text }),
      (err: Error) => {
        if (err.name === 'TimeoutError' || err.name === 'AbortError') return { ended: false, text: '' };
        throw err;
      },
    );
    expect(body.ended, 'the stream of a finished run must end, not wait for events that will never come').toBe(true);
    expect(parseSse(body.text)).toEqual([]);
  });
});

describe('listing runs', () => {
  it('filters by status and workflow and paginates with nextCursor', async () => {
    const older = await runToEnd('paged', { text: unique('page-one') });
    const failed = await runToEnd('paged', { text: `${unique('page-bad')} [[status:400]]` });
    const newer = await runToEnd('paged', { text: unique('page-two') });
    expect([older.status, failed.status, newer.status]).toEqual(['succeeded', 'failed', 'succeeded']);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs = new URLSearchParams({ status: 'succeeded', workflow: 'paged', limit: '1', ...(cursor ? { cursor } : {}) });
      const res = await h.request('GET', `/v1/runs?${qs}`);
      expect(res.status).toBe(200);
      expect(res.body.runs.length).toBeLessThanOrEqual(1);
      for (const r of res.body.runs) {
        expect(r).toMatchObject({ workflow: 'paged', status: 'succeeded' });
        seen.push(r.id);
      }
      cursor = res.body.nextCursor;
      if (pages === 0) expect(cursor, 'the first page has a next cursor').toEqual(expect.any(String));
      pages++;
    } while (cursor && pages < 10);
    expect(cursor).toBeNull();
    expect(seen).toEqual([newer.id, older.id]); // newest first, the failed run filtered out
  });

  it('lists summaries (no input, no output) unless ?include asks for them', async () => {
    const run = await runToEnd('paged', { text: unique('summary') });
    const page = async (qs: string) => (await h.request('GET', `/v1/runs?workflow=paged&limit=1${qs}`)).body.runs[0];
    const summary = await page('');
    expect(summary).toMatchObject({ id: run.id, status: 'succeeded', workflow: 'paged', usage: run.usage });
    expect(summary).not.toHaveProperty('input');
    expect(summary).not.toHaveProperty('output');
    expect(await page('&include=input,output')).toMatchObject({ id: run.id, input: run.input, output: run.output });
    const bad = await h.request('GET', '/v1/runs?include=steps');
    expect(bad.status).toBe(422);
    expect(bad.body.error.issues[0].path).toBe('query.include.0');
  });
});
