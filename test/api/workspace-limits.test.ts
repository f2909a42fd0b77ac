/**
 * A workspace's caps on running steps and runs, on the real engine and Redis (the real OpenAI
 * SDK against the fake server, which holds each call until the test lets it answer, so calls in
 * flight are counted where they arrive): excess waits and then runs, a cancel gives its place
 * back, a lost worker's lease expires, and the admin route refuses bad input naming the field.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlmServer, type FakeLlmServer, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import type { RunView } from '../../src/query/run-view.js';
import { keys } from '../../src/store/keys.js';

let fake: FakeLlmServer;
let h: Harness;
let admin: Record<string, string>;
let user: Record<string, string>;

/** Calls held at the fake server until released, and the most held at once. */
const held: { req: RecordedRequest; release: () => void }[] = [];
let mostAtOnce = 0;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  fake.respondWith(async (req) => {
    if (!req.prompt.includes('[hold]')) return undefined;
    await new Promise<void>((release) => {
      held.push({ req, release });
      mostAtOnce = Math.max(mostAtOnce, held.filter((c) => !c.req.aborted).length);
    });
    return { text: 'done' };
  });
  h = await startHarness({
    name: 'ws-limits',
    fake,
    agents: { worker: { provider: 'openai', model: 'gpt-cap', concurrency: 8, attempts: 1, timeoutMs: 20_000 } },
  });
  admin = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'ops', scopes: ['admin'] })).key}` };
  user = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'acme', scopes: ['runs:write', 'runs:read'] })).key}` };
});

afterEach(() => {
  for (const c of held.splice(0)) c.release();
  mostAtOnce = 0;
});

afterAll(async () => {
  for (const c of held.splice(0)) c.release();
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

const scope = (ws: string) => h.system.scope(ws);
const submit = async (ws: string, task: string) => (await h.system.api.submissions.submitAgentTask(scope(ws), 'worker', { task: `${task} [hold]` })).id;
const view = (ws: string, id: string): Promise<RunView> => h.system.api.queries.get(scope(ws), id);
const heldNow = () => held.filter((c) => !c.req.aborted).length;
const releaseAll = () => {
  for (const c of held.splice(0)) c.release();
};
const waitHeld = (n: number) => poll(`${n} calls held at the provider`, heldNow, (k) => k === n, { timeoutMs: 15_000 });
const waitingFor = async (ws: string, id: string) => (await view(ws, id)).steps[0]?.waitingFor;
const finished = (ws: string, id: string) =>
  poll(
    `run ${id} finished`,
    async () => (await view(ws, id)).status,
    (s) => ['succeeded', 'failed', 'cancelled'].includes(s),
    { timeoutMs: 20_000 },
  );

async function setLimits(ws: string, body: unknown) {
  return h.request('PUT', `/v1/workspaces/${ws}/limits`, body, admin);
}

describe('per-workspace caps', () => {
  it('keeps steps over maxRunningSteps waiting without an attempt, then runs them as places free', async () => {
    expect((await setLimits('steps', { maxRunningSteps: 2 })).status).toBe(200);
    const ids = await Promise.all([1, 2, 3, 4].map((i) => submit('steps', `s${i}`)));
    await waitHeld(2);
    // The other two wait for the cap, each saying so, with no attempt used.
    const waiting = await poll(
      'two steps held by the cap',
      async () => (await Promise.all(ids.map((id) => waitingFor('steps', id)))).filter((w) => w?.reason === 'workspace_cap'),
      (w) => w.length === 2,
      { timeoutMs: 10_000 },
    );
    expect(waiting[0]).toMatchObject({ reason: 'workspace_cap', detail: expect.stringContaining('maxRunningSteps 2 of workspace steps') });
    // Another workspace is not held by this one's cap.
    const other = await submit('elsewhere', 'free');
    await waitHeld(3);
    // Each call answered frees a place: the waiting ones go, never more than two at once.
    await poll(
      'every run of the capped workspace succeeded',
      async () => {
        releaseAll();
        return Promise.all(ids.map(async (id) => (await view('steps', id)).status));
      },
      (all) => all.every((st) => st === 'succeeded'),
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    for (const id of ids) expect((await view('steps', id)).steps[0]!.attempts).toBe(1);
    await finished('elsewhere', other);
    expect(mostAtOnce).toBeLessThanOrEqual(3); // two of `steps` and the other workspace's one
  }, 60_000);

  it("gives a cancelled run's place back at once", async () => {
    expect((await setLimits('cancel', { maxRunningSteps: 1 })).status).toBe(200);
    const first = await submit('cancel', 'first');
    await waitHeld(1);
    const second = await submit('cancel', 'second');
    await poll(
      'the second waits for the cap',
      () => waitingFor('cancel', second),
      (w) => w?.reason === 'workspace_cap',
      { timeoutMs: 10_000 },
    );
    await h.system.api.actions.cancel(scope('cancel'), first);
    // The first call is aborted, its lease given back: the second's call goes.
    await poll(
      'the second call at the provider',
      () => held.filter((c) => c.req.prompt.includes('second')).length,
      (n) => n === 1,
      { timeoutMs: 10_000 },
    );
    releaseAll();
    await finished('cancel', second);
    expect((await view('cancel', second)).status).toBe('succeeded');
  }, 30_000);

  it("lets a lost worker's lease expire: the cap is free again after the call's timeout", async () => {
    expect((await setLimits('lost', { maxRunningSteps: 1 })).status).toBe(200);
    // What a worker killed mid-call leaves behind: its step's lease, expiring with its timeout.
    const redis = h.system.engine.store.redis;
    await redis.zadd(keys.runningSteps(scope('lost')), Date.now() + 1_500, 'run_gone.step');
    const id = await submit('lost', 'after the lost one');
    await poll(
      'the step waits for the lost lease',
      () => waitingFor('lost', id),
      (w) => w?.reason === 'workspace_cap',
      { timeoutMs: 10_000 },
    );
    await waitHeld(1);
    releaseAll();
    await finished('lost', id);
    expect((await view('lost', id)).status).toBe('succeeded');
  }, 30_000);

  it('keeps runs over maxRunningRuns queued until one finishes', async () => {
    expect((await setLimits('runs', { maxRunningRuns: 1 })).status).toBe(200);
    const first = await submit('runs', 'first run');
    await waitHeld(1);
    const second = await submit('runs', 'second run');
    const wait = await poll(
      'the second run held by the cap',
      () => view('runs', second),
      (r) => r.steps[0]?.waitingFor?.reason === 'workspace_cap',
      {
        timeoutMs: 10_000,
      },
    );
    expect(wait.status).toBe('queued');
    expect(wait.steps[0]!.waitingFor).toMatchObject({ detail: expect.stringContaining('maxRunningRuns 1 of workspace runs (1 running)') });
    releaseAll();
    await finished('runs', first);
    await waitHeld(1);
    releaseAll();
    await finished('runs', second);
    expect((await view('runs', second)).status).toBe('succeeded');
  }, 30_000);
});

describe('PUT /v1/workspaces/:id/limits', () => {
  it("sets a workspace's own caps and says which hold", async () => {
    const set = await setLimits('acme', { maxRunningSteps: 5 });
    expect(set.body).toEqual({
      workspace: 'acme',
      effective: { maxRunningSteps: 5, maxRunningRuns: null },
      own: { maxRunningSteps: 5 },
      defaults: { maxRunningSteps: null, maxRunningRuns: null },
    });
    const back = await setLimits('acme', { maxRunningSteps: null, maxRunningRuns: 3 });
    expect(back.body.own).toEqual({ maxRunningRuns: 3 });
    expect((await h.request('GET', '/v1/workspaces/acme/limits', undefined, admin)).body.effective).toEqual({ maxRunningSteps: null, maxRunningRuns: 3 });
  });

  it('answers 422 naming a bad field, and 403 without the admin scope', async () => {
    const zero = await setLimits('acme', { maxRunningSteps: 0 });
    expect(zero.status).toBe(422);
    expect(zero.body.error.issues[0].path).toBe('maxRunningSteps');
    const text = await setLimits('acme', { maxRunningRuns: 'many' });
    expect(text.status).toBe(422);
    expect(text.body.error.issues[0].path).toBe('maxRunningRuns');
    const unknown = await setLimits('acme', { maxSteps: 2 });
    expect(unknown.status).toBe(422);
    expect(JSON.stringify(unknown.body.error)).toContain('maxSteps');
    const badId = await setLimits('not a workspace!', { maxRunningSteps: 1 });
    expect(badId.status).toBe(422);
    expect(badId.body.error.issues[0].path).toBe('id');
    const notAdmin = await h.request('PUT', '/v1/workspaces/acme/limits', { maxRunningSteps: 1 }, user);
    expect(notAdmin.status).toBe(403);
    expect(notAdmin.body.error.message).toContain('admin');
  });
});
