/**
 * Joins that end early (a vote's quorum, `join: any`, `join: {quorum}`) and `join: bestEffort`,
 * on the real engine and Redis, the agents on the real OpenAI SDK against the fake server: the
 * stragglers' requests are seen aborted at the server, their steps cancelled with the reason.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { startFakeLlmServer, structuredReply, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

let fake: FakeLlmServer;
let h: Harness;
const models = ['a', 'b', 'c', 'd', 'e'];

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({ name: 'joins', fake, agents: Object.fromEntries(models.map((m) => [m, { provider: 'openai', model: `gpt-${m}`, attempts: 1 }])) });
}, 30_000);

afterEach(() => fake.reset());

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function submit(body: Record<string, unknown>): Promise<RunView> {
  const res = await h.request('POST', '/v1/runs', body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return h.waitForRun(res.body.id, 20_000);
}
const stepOf = (r: RunView, id: string) => r.steps.find((s) => s.stepId === id)!;
const SLOW_MS = 30_000;

/** Each model answers its vote with `answers[model]`; those in `slow` take SLOW_MS (or until aborted). */
function votes(answers: Record<string, string>, slow: string[] = []): void {
  fake.respondWith((r) => {
    const m = String(r.body?.model).replace('gpt-', '');
    if (!(m in answers)) return undefined;
    return { ...structuredReply(r, { answer: answers[m], confidence: 0.8, rationale: '' }), ...(slow.includes(m) ? { delayMs: SLOW_MS } : {}) };
  });
}
/** The requests of `model` the client gave up on (an aborted call is never answered, so never paid). */
const abortedOf = (model: string) => fake.requests.filter((x) => x.body?.model === `gpt-${model}` && x.aborted).length;

describe('vote quorum', () => {
  it('ends as soon as k answers agree: the stragglers are cancelled and their calls aborted', async () => {
    votes({ a: 'Yes', b: 'yes.', c: 'YES', d: 'no', e: 'no' }, ['d', 'e']);
    const started = Date.now();
    const r = await submit({ pattern: 'consensus', question: 'Ship it?', agents: models, quorum: 3 });
    expect(Date.now() - started).toBeLessThan(SLOW_MS / 2);
    expect(r.status).toBe('succeeded');
    const out = r.output as Record<string, any>;
    expect(out).toMatchObject({ consensus: true, winningResult: 'Yes', agreement: 1, quorum: { need: 3, reached: true, cancelled: ['vote.4.d', 'vote.5.e'] } });
    expect(out.votes.map((v: { step: string }) => v.step)).toEqual(['vote.1.a', 'vote.2.b', 'vote.3.c']);
    for (const id of ['vote.4.d', 'vote.5.e']) {
      expect(stepOf(r, id)).toMatchObject({ status: 'cancelled', usage: null });
      expect(stepOf(r, id).reason).toMatch(/^quorum reached \(3 answers agree, 3 needed\)$/);
    }
    await poll('the stragglers’ requests aborted at the server', () => abortedOf('d') === 1 && abortedOf('e') === 1, Boolean);
    // Only the three answers that came are paid for.
    expect(r.usage.inputTokens).toBe(['a', 'b', 'c'].reduce((n, id) => n + stepOf(r, `vote.${models.indexOf(id) + 1}.${id}`).usage!.inputTokens, 0));
    await expectNoLiveJobs(h.system, r.id);
  });

  it('ends as soon as no answer can reach the quorum any more', async () => {
    votes({ a: 'yes', b: 'no', c: 'maybe', d: 'yes' }, ['d']);
    const r = await submit({
      workflow: {
        name: 'q-impossible',
        steps: [{ id: 'v', kind: 'vote', question: { task: 'Ship it?' }, voters: ['a', 'b', 'c', 'd'].map((agent) => ({ agent })), quorum: 3 }],
      },
      input: {},
    });
    expect(r.status).toBe('succeeded');
    expect(r.output).toMatchObject({ consensus: false, quorum: { need: 3, reached: false, cancelled: ['v.4.d'] } });
    expect(stepOf(r, 'v.4.d').reason).toBe('quorum can no longer be reached (1 answer agree, 1 still live, 3 needed)');
    await poll('the straggler’s request aborted at the server', () => abortedOf('d') === 1, Boolean);
  });

  it('refuses a quorum larger than the voters', async () => {
    const res = await h.request('POST', '/v1/workflows/validate', {
      name: 'q-big',
      steps: [{ id: 'v', kind: 'vote', question: { task: 'x' }, voters: [{ agent: 'a' }, { agent: 'b' }], quorum: 3 }],
    });
    expect(res.status).toBe(422);
    expect(res.body.error.issues[0]).toEqual({ path: 'steps[0].quorum', message: 'a quorum of 3 needs at least 3 voters; there are 2' });
  });
});

describe('join policies', () => {
  it('join: any starts at the first success and cancels the rest', async () => {
    const r = await submit({
      workflow: {
        name: 'j-any',
        steps: [
          { id: 'a', agent: 'a', input: { task: 'a' } },
          { id: 'b', agent: 'b', input: { task: `b [[delay:${SLOW_MS}]]` } },
          { id: 'first', kind: 'concat', as: 'list', dependsOn: ['a', 'b'], join: 'any' },
        ],
      },
      input: {},
    });
    expect(r.status).toBe('succeeded');
    expect(stepOf(r, 'b')).toMatchObject({ status: 'cancelled', reason: 'join: any met by "a"', usage: null });
    expect(r.output).toEqual([
      { step: 'a', status: 'succeeded', output: 'fake gpt-a: a' },
      { step: 'b', status: 'cancelled', output: null },
    ]);
    await poll('the straggler’s request aborted at the server', () => abortedOf('b') === 1, Boolean);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('join: {quorum: 2} goes on after two successes, and a failure among them does not fail the run', async () => {
    const r = await submit({
      workflow: {
        name: 'j-quorum',
        steps: [
          { id: 'a', agent: 'a', input: { task: 'broken [[status:400]]' } },
          { id: 'b', agent: 'b', input: { task: 'b' } },
          { id: 'c', agent: 'c', input: { task: 'c' } },
          { id: 'd', agent: 'd', input: { task: `d [[delay:${SLOW_MS}]]` } },
          { id: 'j', kind: 'concat', dependsOn: ['a', 'b', 'c', 'd'], join: { quorum: 2 } },
        ],
      },
      input: {},
    });
    expect(r.status).toBe('partial_success');
    expect(stepOf(r, 'a').status).toBe('failed');
    expect(stepOf(r, 'd')).toMatchObject({ status: 'cancelled', reason: 'quorum reached (2 of 4 succeeded, 2 needed)' });
    expect(stepOf(r, 'j').status).toBe('succeeded');
  });

  it('join: {quorum: 2} fails, saying why, once too many of its steps failed', async () => {
    const r = await submit({
      workflow: {
        name: 'j-quorum-fail',
        steps: [
          { id: 'a', agent: 'a', input: { task: 'a [[status:400]]' } },
          { id: 'b', agent: 'b', input: { task: 'b [[status:400]]' } },
          { id: 'c', agent: 'c', input: { task: `c [[delay:${SLOW_MS}]]` } },
          { id: 'j', kind: 'concat', dependsOn: ['a', 'b', 'c'], join: { quorum: 2 } },
        ],
      },
      input: {},
    });
    expect(r.status).toBe('failed');
    expect(stepOf(r, 'c')).toMatchObject({ status: 'cancelled', reason: 'quorum can no longer be reached (0 of 3 succeeded, 1 still live, 2 needed)' });
    expect(stepOf(r, 'j').error).toBe('join: {quorum: 2} needs 2 of its 3 dependencies to succeed; 0 did ("a" failed, "b" failed, "c" cancelled)');
    expect(r.error).toBe('step "j" failed: join: {quorum: 2} needs 2 of its 3 dependencies to succeed; 0 did ("a" failed, "b" failed, "c" cancelled)');
    await poll('the straggler’s request aborted at the server', () => abortedOf('c') === 1, Boolean);
  });

  it('join: bestEffort waits for all and goes on with what succeeded', async () => {
    const r = await submit({
      workflow: {
        name: 'j-best',
        steps: [
          { id: 'a', agent: 'a', input: { task: 'a [[status:400]]' } },
          { id: 'b', agent: 'b', input: { task: 'b [[delay:300]]' } },
          { id: 'j', kind: 'concat', as: 'list', dependsOn: ['a', 'b'], join: 'bestEffort' },
        ],
      },
      input: {},
    });
    expect(r.status).toBe('partial_success');
    expect(r.output).toEqual([
      { step: 'a', status: 'failed', output: null },
      { step: 'b', status: 'succeeded', output: 'fake gpt-b: b' },
    ]);
  });

  it('refuses joins that cannot work, naming the problem', async () => {
    const validate = async (steps: unknown[]) => (await h.request('POST', '/v1/workflows/validate', { name: 'j-bad', steps })).body.error?.issues;
    const agent = (id: string, dependsOn: string[] = []) => ({ id, agent: 'a', input: { task: id }, dependsOn });
    expect(await validate([agent('a'), { ...agent('j', ['a']), join: 'any' }])).toEqual([
      { path: 'steps[1].join', message: 'join: any needs at least 2 dependencies; "j" has 1' },
    ]);
    expect(await validate([agent('a'), agent('b'), { ...agent('j', ['a', 'b']), join: { quorum: 3 } }])).toEqual([
      { path: 'steps[2].join', message: 'a quorum of 3 needs at least 3 dependencies; "j" has 2' },
    ]);
    expect(await validate([agent('a'), agent('b'), { ...agent('j', ['a', 'b']), join: 'any' }, agent('k', ['a'])])).toEqual([
      { path: 'steps[2].join', message: 'join: any cancels the steps it no longer needs, so they may feed no other step; "a" is also a dependency of "k"' },
    ]);
    expect(await validate([agent('a'), agent('b'), { ...agent('j', ['a', 'b']), join: 'some' }])).toEqual([expect.objectContaining({ path: 'steps[2].join' })]);
  });

  it('a cancelled member takes the steps upstream of it that feed nothing else along, and one in a retry backoff leaves at once', async () => {
    const r = await submit({
      workflow: {
        name: 'j-upstream',
        steps: [
          { id: 'x', agent: 'a', input: { task: `slow source [[delay:${SLOW_MS}]]` } },
          { id: 'm1', agent: 'b', dependsOn: ['x'], input: { task: 'uses x' } },
          { id: 'm2', agent: 'c', attempts: 3, input: { task: 'flaky [[status:500]]' } },
          { id: 'm3', agent: 'd', input: { task: 'fast [[delay:400]]' } },
          { id: 'j', kind: 'concat', dependsOn: ['m1', 'm2', 'm3'], join: 'any' },
        ],
      },
      input: {},
    });
    expect(r.status).toBe('succeeded');
    for (const id of ['x', 'm1', 'm2']) expect(stepOf(r, id)).toMatchObject({ status: 'cancelled', reason: 'join: any met by "m3"' });
    // m2 was sleeping out its backoff (the agent's default: seconds) when it was cancelled.
    expect(stepOf(r, 'm2').attempts).toBe(1);
    await poll('the upstream step’s request aborted at the server', () => abortedOf('a') === 1, Boolean);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('checks a pattern block’s dependsOn like any other, and names an unknown pattern', async () => {
    const validate = async (steps: unknown[]) => (await h.request('POST', '/v1/workflows/validate', { name: 'p-bad', steps })).body.error?.issues;
    expect(await validate([{ id: 'c', pattern: 'parallel', tasks: [{ agent: 'a', task: 'x' }], dependsOn: ['ghost'] }])).toEqual([
      { path: 'steps[0] (step c-t1).dependsOn[0]', message: 'unknown step "ghost" in dependsOn; steps: c-t1, c-results' },
    ]);
    expect(await validate([{ id: 'c', pattern: 'nope', tasks: [] }])).toEqual([
      { path: 'steps[0].pattern', message: 'unknown pattern "nope"; patterns: sequential, parallel, hierarchical, consensus' },
    ]);
    expect(await validate([{ id: 'h', pattern: 'hierarchical', task: 't', aggregate: 'vote', tasks: [{ agent: 'a', task: 'x' }] }])).toEqual([
      { path: 'steps[0].tasks', message: 'aggregate: vote needs at least 2 tasks (each answer is a vote)' },
    ]);
  });
});
