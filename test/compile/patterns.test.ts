/**
 * The collaboration patterns (POST /v1/runs {pattern, ...}, POST /v1/chat/multi) and the
 * aggregation kinds they compile to (concat, vote), on the real engine and Redis, the agents
 * on the real OpenAI SDK against the fake server (scripted structured answers) or on echo.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { startFakeLlmServer, structuredReply, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'patterns',
    fake,
    agents: {
      a: { provider: 'openai', model: 'gpt-a', attempts: 1 },
      b: { provider: 'openai', model: 'gpt-b', attempts: 1 },
      c: { provider: 'openai', model: 'gpt-c', attempts: 1 },
      senior: { provider: 'openai', model: 'gpt-senior', attempts: 1, authority: 3 },
      e1: { provider: 'echo' },
      e2: { provider: 'echo' },
      synth: { provider: 'echo' },
    },
  });
}, 30_000);

afterEach(() => fake.reset());

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function submit(body: Record<string, unknown>, path = '/v1/runs'): Promise<RunView> {
  const res = await h.request('POST', path, body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return h.waitForRun(res.body.id, 20_000);
}
const stepOf = (r: RunView, id: string) => r.steps.find((s) => s.stepId === id)!;
const promptOf = (model: string) => fake.requests.find((x) => x.body?.model === model)?.prompt ?? '';

/** Each model answers its vote with `answers[model]` (a structured `answer` tool call). */
function votes(answers: Record<string, unknown>): void {
  fake.respondWith((r) => (r.body?.model in answers ? structuredReply(r, answers[r.body.model]) : undefined));
}

describe('pattern: sequential', () => {
  it('hands each output to the next task, and its output is the last one', async () => {
    const r = await submit({
      pattern: 'sequential',
      tasks: [
        { agent: 'a', task: 'first' },
        { agent: 'b', task: 'second' },
      ],
    });
    expect(r.status).toBe('succeeded');
    expect(r.workflow).toBe('pattern-sequential');
    expect(r.output).toBe(stepOf(r, 't2').output);
    expect(promptOf('gpt-b')).toContain(`"previous": "fake gpt-a: first"`);
  });

  it('strict (the default): the first failure fails the run and cancels the rest', async () => {
    const r = await submit({
      pattern: 'sequential',
      tasks: [
        { agent: 'a', task: 'break [[status:400]]' },
        { agent: 'b', task: 'never' },
      ],
    });
    expect(r.status).toBe('failed');
    expect(r.steps.map((s) => [s.stepId, s.status])).toEqual([
      ['t1', 'failed'],
      ['t2', 'cancelled'],
    ]);
  });

  it('not strict: it carries on after a failure and ends partial_success', async () => {
    const r = await submit({
      pattern: 'sequential',
      strict: false,
      tasks: [
        { agent: 'a', task: 'break [[status:400]]' },
        { agent: 'b', task: 'still' },
      ],
    });
    expect(r.status).toBe('partial_success');
    expect(stepOf(r, 't2').status).toBe('succeeded');
  });
});

describe('pattern: parallel', () => {
  it('runs all at once; the output lists every result in order with its status', async () => {
    const r = await submit({
      pattern: 'parallel',
      tasks: [
        { agent: 'a', task: 'one' },
        { agent: 'b', task: 'two [[status:400]]' },
        { agent: 'c', task: 'three' },
      ],
    });
    expect(r.status).toBe('partial_success');
    expect(r.output).toEqual([
      { step: 't1', status: 'succeeded', output: 'fake gpt-a: one' },
      { step: 't2', status: 'failed', output: null },
      { step: 't3', status: 'succeeded', output: 'fake gpt-c: three' },
    ]);
    await expectNoLiveJobs(h.system, r.id);
  });
});

describe('pattern: hierarchical', () => {
  it('runs the subtasks with the main task in their context, then concatenates them labelled by step', async () => {
    const r = await submit({
      pattern: 'hierarchical',
      task: 'Build a web app',
      tasks: [
        { agent: 'a', task: 'backend' },
        { agent: 'b', task: 'frontend' },
      ],
    });
    expect(r.status).toBe('succeeded');
    expect(r.output).toMatch(/^### t1\nfake gpt-a: backend\n[\s\S]*\n\n### t2\nfake gpt-b: frontend/);
    expect(promptOf('gpt-a')).toContain('"mainTask": "Build a web app"');
  });

  it('or gives every result to a synthesizer', async () => {
    const r = await submit({
      pattern: 'hierarchical',
      task: 'Build a web app',
      aggregate: 'synthesize',
      synthesizer: 'synth',
      tasks: [
        { agent: 'e1', task: 'backend' },
        { agent: 'e2', task: 'frontend' },
      ],
    });
    expect(r.status).toBe('succeeded');
    expect(r.output).toContain('[synth] Build a web app');
    expect(r.output).toMatch(/"inputs": \{\n {4}"t1": "\[e1\] backend[^\n]*",\n {4}"t2": "\[e2\] frontend/);
    expect(r.steps.map((s) => [s.stepId, s.kind])).toEqual([
      ['t1', 'agent'],
      ['t2', 'agent'],
      ['synthesis', 'synthesize'],
    ]);
  });
});

describe('pattern: hierarchical, aggregated by merge or vote', () => {
  it('merges the subtasks’ JSON outputs, listing conflicts', async () => {
    const r = await submit({
      pattern: 'hierarchical',
      task: 'Profile Acme',
      aggregate: 'merge',
      tasks: [
        { agent: 'a', task: 'size [[reply:{"size":10,"hq":"Paris"}]]' },
        { agent: 'b', task: 'age [[reply:{"founded":1999,"hq":"Lyon"}]]' },
      ],
    });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({
      merged: { size: 10, hq: 'Paris', founded: 1999 },
      conflicts: [
        {
          path: 'hq',
          chosen: 't1',
          values: [
            { step: 't1', value: 'Paris' },
            { step: 't2', value: 'Lyon' },
          ],
        },
      ],
    });
  });

  it('votes over the subtasks’ outputs: plain answers count with confidence 1, weighed by authority', async () => {
    const r = await submit({
      pattern: 'hierarchical',
      task: 'Pick a framework',
      aggregate: 'vote',
      tasks: [
        { agent: 'a', task: 'pick [[reply:FastAPI]]' },
        { agent: 'b', task: 'pick [[reply:fastapi.]]' },
        { agent: 'senior', task: 'pick [[reply:Django]]' },
      ],
    });
    expect(r.status).toBe('succeeded');
    const out = r.output as Record<string, any>;
    // Two plain answers agree (weight 2), the senior (authority 3) alone outweighs them.
    expect(out).toMatchObject({ winningResult: 'Django', consensus: true, minAgreement: 0.5 });
    expect(out.agreement).toBeCloseTo(3 / 5);
    expect(out.votes.map((v: { step: string; agent: string; weight: number }) => [v.step, v.agent, v.weight])).toEqual([
      ['t1', 'a', 1],
      ['t2', 'b', 1],
      ['t3', 'senior', 3],
    ]);
    const bad = await h.request('POST', '/v1/workflows/validate', {
      name: 'bad-vote',
      steps: [{ id: 'v', kind: 'vote', voters: [{ agent: 'a' }, { agent: 'b' }] }],
    });
    expect(bad.body.error.issues).toEqual([
      { path: 'steps[0].question', message: 'a vote needs a question and its voters (at least 2), or `of`: the steps whose outputs are the votes' },
    ]);
  });
});

describe('patterns as workflow blocks', () => {
  it('a pattern block becomes its steps under its id, chained like any block', async () => {
    const r = await submit({
      workflow: {
        name: 'blocks',
        steps: [
          {
            sequential: [
              { id: 'brief', agent: 'e1', input: { task: 'brief' } },
              { id: 'check', pattern: 'consensus', question: 'Ready?', agents: ['e1', 'e2'] },
              {
                id: 'team',
                pattern: 'parallel',
                tasks: [
                  { agent: 'e1', task: 'left' },
                  { agent: 'e2', task: 'right' },
                ],
              },
              { id: 'post', agent: 'synth', input: { task: 'post: {{steps.check-vote.output.winningResult}}' } },
            ],
          },
        ],
      },
      input: {},
    });
    expect(r.status).toBe('succeeded');
    expect(r.steps.filter((s) => s.parent === null).map((s) => [s.stepId, s.dependsOn])).toEqual([
      ['brief', []],
      ['check-vote', ['brief']],
      ['team-t1', ['check-vote']],
      ['team-t2', ['check-vote']],
      ['team-results', ['team-t1', 'team-t2']],
      ['post', ['team-results']],
    ]);
    expect(r.output).toBe('[synth] post: Ready?');
    const bad = await h.request('POST', '/v1/workflows/validate', {
      name: 'bad-block',
      steps: [{ id: 'h', pattern: 'hierarchical', task: 'x', aggregate: 'synthesize', tasks: [{ agent: 'e1', task: 'y' }] }],
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.issues).toEqual([{ path: 'steps[0].synthesizer', message: 'aggregate: synthesize needs the synthesizer agent' }]);
    const unknown = await h.request('POST', '/v1/workflows/validate', {
      name: 'bad-block',
      steps: [{ id: 'c', pattern: 'consensus', question: 'x', agents: ['e1', 'nobody'] }],
    });
    expect(unknown.body.error.issues).toEqual([
      { path: 'steps[0] (step c-vote).voters[1].agent', message: 'unknown agent "nobody"; known agents: a, b, c, e1, e2, senior, synth' },
    ]);
  });
});

describe('pattern: consensus (kind: vote)', () => {
  it('groups normalised answers, weighs them by confidence, and reaches consensus', async () => {
    votes({
      'gpt-a': { answer: 'Yes.', confidence: 0.9, rationale: 'stable' },
      'gpt-b': { answer: ' yes', confidence: 0.9, rationale: 'fine' },
      'gpt-c': { answer: 'No', confidence: 0.9, rationale: 'risky' },
    });
    const r = await submit({ pattern: 'consensus', question: 'Is Python 3.12 production ready?', agents: ['a', 'b', 'c'] });
    expect(r.status).toBe('succeeded');
    const out = r.output as Record<string, any>;
    expect(out).toMatchObject({ consensus: true, winningResult: 'Yes.', minAgreement: 0.5 });
    expect(out.agreement).toBeCloseTo(2 / 3);
    expect(out.votes.map((v: { step: string; weight: number }) => [v.step, v.weight])).toEqual([
      ['vote.1.a', 0.9],
      ['vote.2.b', 0.9],
      ['vote.3.c', 0.9],
    ]);
    expect(out.groups.map((g: { steps: string[] }) => g.steps)).toEqual([['vote.1.a', 'vote.2.b'], ['vote.3.c']]);
  });

  it('lets authority change the winner, and says when the agreement is below minAgreement', async () => {
    votes({
      'gpt-a': { answer: 'yes', confidence: 0.9, rationale: '' },
      'gpt-b': { answer: 'yes', confidence: 0.9, rationale: '' },
      'gpt-senior': { answer: 'no', confidence: 0.9, rationale: '' },
    });
    const r = await submit({ pattern: 'consensus', question: 'Ship it?', agents: ['a', 'b', 'senior'], minAgreement: 0.7 });
    const out = r.output as Record<string, any>;
    expect(out.winningResult).toBe('no');
    expect(out.agreement).toBeCloseTo(2.7 / 4.5);
    expect(out.consensus).toBe(false);
  });

  it('groups numbers within a tolerance and gives the weighted score', async () => {
    votes({
      'gpt-a': { answer: 7, confidence: 1, rationale: '' },
      'gpt-b': { answer: 7.2, confidence: 0.5, rationale: '' },
      'gpt-c': { answer: 9, confidence: 0.5, rationale: '' },
    });
    const r = await submit({ pattern: 'consensus', question: 'Score it 0-10', agents: ['a', 'b', 'c'], compare: { numberTolerance: 0.5 } });
    const out = r.output as Record<string, any>;
    expect(out.groups.map((g: { steps: string[] }) => g.steps)).toEqual([['vote.1.a', 'vote.2.b'], ['vote.3.c']]);
    expect(out.winningResult).toBe(7);
    expect(out.weightedScore).toBeCloseTo((7 * 1 + 7.2 * 0.5 + 9 * 0.5) / 2);
  });

  it('runs offline on echo with identical answers: consensus', async () => {
    const r = await submit({ pattern: 'consensus', question: 'Is it ready?', agents: ['e1', 'e2'] });
    expect(r.output).toMatchObject({ consensus: true, agreement: 1, winningResult: 'Is it ready?' });
  });
});

describe('kind: merge', () => {
  it('deep-merges JSON outputs, the declared priority winning each conflict, every conflict listed', async () => {
    const reply = (json: unknown) => `[[reply:${JSON.stringify(json)}]]`;
    const r = await submit({
      workflow: {
        name: 'merged',
        steps: [
          { id: 'a', agent: 'a', input: { task: `profile ${reply({ name: 'Acme', size: 10, tags: ['x'], hq: { city: 'Paris', country: 'FR' } })}` } },
          { id: 'b', agent: 'b', input: { task: `profile ${reply({ size: 12, founded: 1999, hq: { city: 'Lyon' } })}` } },
          { id: 'm', kind: 'merge', dependsOn: ['a', 'b'], priority: ['b'] },
        ],
      },
      input: {},
    });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({
      merged: { size: 12, founded: 1999, hq: { city: 'Lyon', country: 'FR' }, name: 'Acme', tags: ['x'] },
      conflicts: [
        {
          path: 'size',
          chosen: 'b',
          values: [
            { step: 'b', value: 12 },
            { step: 'a', value: 10 },
          ],
        },
        {
          path: 'hq.city',
          chosen: 'b',
          values: [
            { step: 'b', value: 'Lyon' },
            { step: 'a', value: 'Paris' },
          ],
        },
      ],
    });
  });

  it('fails on an output that is not a JSON object, and refuses a priority outside its steps', async () => {
    const r = await submit({
      workflow: {
        name: 'merge-text',
        steps: [
          { id: 'a', agent: 'e1', input: { task: 'plain' } },
          { id: 'm', kind: 'merge', dependsOn: ['a'] },
        ],
      },
      input: {},
    });
    expect(r.status).toBe('failed');
    expect(r.steps.find((s) => s.stepId === 'm')!.error).toBe('merge needs JSON objects; step "a" answered a text without a JSON object');
    const bad = await h.request('POST', '/v1/workflows/validate', {
      name: 'bad-merge',
      steps: [
        { id: 'a', agent: 'e1', input: { task: 'x' } },
        { id: 'm', kind: 'merge', dependsOn: ['a'], priority: ['z'] },
      ],
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.issues[0]).toMatchObject({ path: 'steps[1].priority[0]', message: '"z" is not one of the steps merged (a)' });
  });
});

describe('POST /v1/chat/multi', () => {
  it('maps parallel, sequential and orchestrated onto runs', async () => {
    const parallel = await submit({ message: 'hello', agents: ['e1', 'e2'], mode: 'parallel' }, '/v1/chat/multi');
    expect(parallel.output).toEqual([
      { step: 't1', status: 'succeeded', output: '[e1] hello' },
      { step: 't2', status: 'succeeded', output: '[e2] hello' },
    ]);
    const sequential = await submit({ message: 'hello', agents: ['e1', 'e2'], mode: 'sequential' }, '/v1/chat/multi');
    expect(sequential.steps.map((s) => s.stepId)).toEqual(['t1', 't2']);
    const orchestrated = await submit({ message: 'hello', agents: ['e1', 'e2'], mode: 'orchestrated' }, '/v1/chat/multi');
    expect(orchestrated.status).toBe('succeeded');
    expect(orchestrated.steps.map((s) => [s.stepId, s.parent])).toEqual([
      ['leader', null],
      ['leader.1.e2', 'leader'],
    ]);
  });

  it('answers a bad request with a 422 that names the problem', async () => {
    const one = await h.request('POST', '/v1/chat/multi', { message: 'hi', agents: ['e1'], mode: 'orchestrated' });
    expect(one.status).toBe(422);
    expect(one.body.error.issues[0]).toMatchObject({ path: 'agents', message: expect.stringContaining('needs the leader') });
    const unknown = await h.request('POST', '/v1/chat/multi', { message: 'hi', agents: ['nobody'] });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.message).toContain('unknown agent "nobody"');
    const synth = await h.request('POST', '/v1/runs', { pattern: 'hierarchical', task: 'x', aggregate: 'synthesize', tasks: [{ agent: 'e1', task: 'y' }] });
    expect(synth.status).toBe(422);
    expect(synth.body.error.issues[0]).toMatchObject({ path: 'synthesizer' });
    const nope = await h.request('POST', '/v1/runs', { pattern: 'star', tasks: [] });
    expect(nope.status).toBe(422);
  });
});
