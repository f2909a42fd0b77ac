/**
 * The run's shared context (seeds 002/003): steps publish fields of their outputs, later steps
 * read {{context.<name>}}, every publish is a `context.updated` event, and conflicting writes
 * are resolved by the declared rule (topological order or authority), never by arrival time.
 * Real engine and Redis; agents on the real OpenAI SDK against the fake server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'context',
    fake,
    agents: {
      junior: { provider: 'openai', model: 'gpt-junior', attempts: 1 },
      senior: { provider: 'openai', model: 'gpt-senior', attempts: 1, authority: 3 },
      writer: { provider: 'openai', model: 'gpt-writer', attempts: 1 },
    },
  });
}, 30_000);

afterEach(() => fake.reset());

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function submit(workflow: Record<string, unknown>): Promise<RunView> {
  const res = await h.request('POST', '/v1/runs', { workflow, input: {} });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return h.waitForRun(res.body.id, 20_000);
}
const reply = (json: unknown, delayMs = 0) => `answer [[reply:${JSON.stringify(json)}]]${delayMs ? ` [[delay:${delayMs}]]` : ''}`;
const promptOf = (model: string) => fake.requests.find((x) => x.body?.model === model)?.prompt ?? '';

/** Two researchers publish `finding`; the first in the workflow is slow, so it finishes last. */
const conflicting = (conflict?: 'topological' | 'authority') => ({
  name: `ctx-${conflict ?? 'default'}`,
  ...(conflict ? { context: { conflict } } : {}),
  steps: [
    { id: 'first', agent: 'senior', input: { task: reply({ finding: 'from first', extra: 1 }, 400) }, publish: ['finding'] },
    { id: 'second', agent: 'junior', input: { task: reply({ finding: 'from second', other: [1, 2] }) }, publish: true },
    { id: 'use', agent: 'writer', dependsOn: ['first', 'second'], input: { task: 'write up {{context.finding}} and {{context.other}}' } },
  ],
});

describe('shared run context', () => {
  it('a later step reads what was published; the step later in topological order wins, whatever finished last', async () => {
    const r = await submit(conflicting());
    expect(r.status).toBe('succeeded');
    expect(promptOf('gpt-writer')).toBe('write up from second and [1,2]');
    expect(r.context).toEqual({ finding: 'from second', other: [1, 2] });

    const ctx = await h.request('GET', `/v1/runs/${r.id}/context`);
    expect(ctx.status).toBe(200);
    expect(ctx.body).toEqual({
      runId: r.id,
      context: { finding: 'from second', other: [1, 2] },
      // Each writer's authority is its agent's (junior: the default 1), though under `topological` it does not rank.
      writers: { finding: { step: 'second', order: 1, authority: 1 }, other: { step: 'second', order: 1, authority: 1 } },
    });
    // Every publish is an event, in the order they happened: "first" came last and kept nothing.
    const events = (await h.system.engine.store.events.read(h.system.scope(), r.id)).filter((e) => e.type === 'context.updated');
    expect(events.map((e) => [e.stepId, e.data])).toEqual([
      ['second', { step: 'second', keys: ['finding', 'other'] }],
      ['first', { step: 'first', keys: [], kept: ['finding'] }],
    ]);
  });

  it('conflict: authority lets the agent with the higher authority win', async () => {
    const r = await submit(conflicting('authority'));
    expect(promptOf('gpt-writer')).toBe('write up from first and [1,2]');
    expect(r.contextWriters).toEqual({ finding: { step: 'first', order: 0, authority: 3 }, other: { step: 'second', order: 1, authority: 1 } });
  });

  it('conflict: authority ranks a workspace agent by its own authority', async () => {
    // A workspace agent (created over the API) on the senior's model, with a higher authority still.
    const created = await h.request('POST', '/v1/agents', { name: 'lead', provider: 'openai', model: 'gpt-lead', attempts: 1, authority: 5 });
    expect(created.status).toBe(201);
    const wf = conflicting('authority');
    const r = await submit({ ...wf, name: 'ctx-own-authority', steps: [{ ...wf.steps[0], agent: 'lead' }, ...wf.steps.slice(1)] });
    expect(promptOf('gpt-writer')).toBe('write up from first and [1,2]');
    expect(r.contextWriters).toEqual({ finding: { step: 'first', order: 0, authority: 5 }, other: { step: 'second', order: 1, authority: 1 } });
    expect((await h.request('DELETE', '/v1/agents/lead')).status).toBe(204);
  });

  it('publishes a text output under the step id, and leaves out a named field the output lacks', async () => {
    const r = await submit({
      name: 'ctx-text',
      steps: [
        { id: 'notes', agent: 'junior', input: { task: 'plain notes' }, publish: true },
        { id: 'facts', agent: 'junior', input: { task: reply({ a: 1 }) }, publish: ['a', 'b'] },
        { id: 'use', agent: 'writer', dependsOn: ['notes', 'facts'], input: { task: 'got {{context.notes}} / {{context.a}} / [{{context.b}}]' } },
      ],
    });
    expect(r.status).toBe('succeeded');
    expect(r.context).toEqual({ notes: 'fake gpt-junior: plain notes', a: 1 });
    expect(promptOf('gpt-writer')).toBe('got fake gpt-junior: plain notes / 1 / []');
  });

  it('publishes up to 1000 names of one output in one write', async () => {
    const fields = Object.fromEntries(Array.from({ length: 1200 }, (_, i) => [`f${i}`, i]));
    const r = await submit({ name: 'ctx-many', steps: [{ id: 'wide', agent: 'junior', input: { task: reply(fields) }, publish: true }] });
    expect(r.status).toBe('succeeded');
    expect(Object.keys(r.context!)).toHaveLength(1000);
    expect(r.context!.f999).toBe(999);
  });

  it('refuses a read of a name no ancestor publishes, naming the problem', async () => {
    const validate = async (steps: unknown[]) => (await h.request('POST', '/v1/workflows/validate', { name: 'ctx-bad', steps })).body.error?.issues;
    expect(await validate([{ id: 'a', agent: 'junior', input: { task: '{{context.x}}' } }])).toEqual([
      {
        path: 'steps[0].input.task',
        message: 'template {{context.x}} reads context "x", which no step publishes; add publish: [x] (or publish: true) to a step "a" depends on',
      },
    ]);
    expect(
      await validate([
        { id: 'p', agent: 'junior', input: { task: 'x' }, publish: ['x'] },
        { id: 'a', agent: 'junior', input: { task: '{{context.x}}' } },
      ]),
    ).toEqual([
      {
        path: 'steps[1].input.task',
        message:
          'template {{context.x}} reads context "x", which only "p" publishes, and none of them is an ancestor of "a" (nothing makes it publish first); add it to dependsOn of "a"',
      },
    ]);
    expect(await validate([{ id: 'p', agent: 'junior', input: { task: 'x' }, publish: ['bad name'] }])).toEqual([
      expect.objectContaining({ path: 'steps[0].publish[0]' }),
    ]);
    // A publisher that may run at the same time as the reader would make what it reads a race.
    expect(
      await validate([
        { id: 'p', agent: 'junior', input: { task: 'x' }, publish: ['x'] },
        { id: 'q', agent: 'junior', input: { task: 'x' }, publish: ['x'] },
        { id: 'r', agent: 'junior', dependsOn: ['p'], input: { task: '{{context.x}}' } },
      ]),
    ).toEqual([
      {
        path: 'steps[2].input.task',
        message:
          'template {{context.x}} reads context "x", which "q" also publishes and may run at the same time as "r" (what it reads would depend on which finished first); make it depend on "r", or "r" on it',
      },
    ]);
  });

  it('an approval step keeps its own publish (a publish gate)', async () => {
    const res = await h.request('POST', '/v1/workflows/validate', {
      name: 'ctx-gate',
      automation: 'assisted',
      steps: [{ id: 'g', kind: 'approval', publish: true }],
    });
    expect(res.status).toBe(200);
    expect(res.body.workflow.steps[0]).toMatchObject({ kind: 'approval', publish: true });
    expect(res.body.workflow.steps[0].toContext).toBeUndefined();
  });

  it('a parallel block with rounds synchronises every syncEvery rounds, each round published under the item id', async () => {
    // Each answer says who gave it in which round.
    fake.respondWith((req) => ({ text: `${String(req.body?.model).replace('gpt-', '')} round ${/"round": (\d+)/.exec(req.prompt)?.[1] ?? '?'}` }));
    const r = await submit({
      name: 'ctx-rounds',
      steps: [
        {
          sequential: [
            {
              parallel: [
                { id: 'optimist', agent: 'junior', input: { task: 'argue for' } },
                { id: 'skeptic', agent: 'senior', input: { task: 'argue against' } },
              ],
              rounds: 3,
              syncEvery: 2,
            },
            { id: 'verdict', agent: 'writer', input: { task: 'decide: {{context.optimist}} vs {{context.skeptic}}' } },
          ],
        },
      ],
    });
    expect(r.status).toBe('succeeded');
    expect(r.steps.map((s) => [s.stepId, s.dependsOn])).toEqual([
      ['optimist-r1', []],
      ['skeptic-r1', []],
      ['optimist-r2', ['optimist-r1']],
      ['skeptic-r2', ['skeptic-r1']],
      ['optimist-r3', ['optimist-r2', 'skeptic-r2']],
      ['skeptic-r3', ['optimist-r2', 'skeptic-r2']],
      ['verdict', ['optimist-r3', 'skeptic-r3']],
    ]);
    const input = (id: string) => (r.steps.find((s) => s.stepId === id)!.input as { context: Record<string, unknown> }).context;
    expect(input('optimist-r2')).toEqual({ round: 2, previous: 'junior round 1' });
    // Round 3 comes after the synchronisation: it sees the other side's round-2 answer.
    expect(input('optimist-r3')).toEqual({ round: 3, previous: 'junior round 2', peers: { skeptic: 'senior round 2' } });
    expect(r.context).toEqual({ optimist: 'junior round 3', skeptic: 'senior round 3' });
    expect(promptOf('gpt-writer')).toBe('decide: junior round 3 vs senior round 3');
    const validate = async (block: unknown) => (await h.request('POST', '/v1/workflows/validate', { name: 'rounds-bad', steps: [block] })).body.error?.issues;
    expect(await validate({ parallel: [{ id: 'a', agent: 'junior', input: { task: 'x' } }], syncEvery: 2 })).toEqual([
      { path: 'steps[0].syncEvery', message: 'syncEvery needs rounds: the number of rounds the block runs' },
    ]);
    expect(await validate({ parallel: [{ id: 'a', kind: 'concat', of: ['b'] }], rounds: 2 })).toEqual([
      { path: 'steps[0].parallel[0]', message: 'a parallel block with rounds holds agent steps only (each runs once per round)' },
    ]);
  });
});
