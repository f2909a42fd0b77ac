/**
 * The typed client (`switchyard/client`) against a live server: real Redis, BullMQ workers, the
 * real Anthropic SDK against the fake LLM server. A run is followed through its events until it
 * finishes while its connection is cut twice mid-stream (mid-frame): the client connects again
 * from the last event, and no event is missed or repeated. Then get, list, cancel, rerun, an
 * approval, submit and wait (runs and chats), schedules, agents, stats, and 4xx answers thrown
 * as SwitchyardError.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, SwitchyardError, type Client, type Event, type Run } from '../../src/client/index.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

const agents = { writer: { provider: 'anthropic', model: 'claude-test' } };
const step = (id: string, dependsOn: string[] = []) => ({ id, agent: 'writer', dependsOn, input: { task: `[[delay:120]] ${id}` } });
const workflows = [
  { name: 'chain', steps: [step('a'), step('b', ['a']), step('c', ['b'])] },
  {
    name: 'gated',
    steps: [
      { id: 'draft', agent: 'writer', input: { task: 'draft' } },
      { id: 'gate', kind: 'approval', dependsOn: ['draft'] },
    ],
  },
];

let fake: FakeLlmServer;
let h: Harness;
let client: Client;

/** A fetch whose first `cuts` event streams break off after `bytes` bytes (a dropped connection), recording each request's Last-Event-ID. */
function cuttingFetch(cuts: number, bytes: number) {
  const lastEventIds: (string | null)[] = [];
  const cutting: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const headers = new Headers(init?.headers);
    if (headers.get('accept') !== 'text/event-stream') return res;
    lastEventIds.push(headers.get('last-event-id'));
    if (lastEventIds.length > cuts || !res.body) return res;
    const upstream = res.body.getReader();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await upstream.read();
        if (done) return controller.close();
        const room = bytes - sent;
        controller.enqueue(value.subarray(0, room));
        sent += Math.min(room, value.length);
        if (sent >= bytes) {
          await upstream.cancel();
          controller.error(new TypeError('terminated'));
        }
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  return { fetch: cutting, lastEventIds };
}

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({ name: 'client', agents, workflows, fake });
  const key = (await h.system.keys.create({ workspace: 'default', scopes: ['admin'] })).key;
  client = createClient({ url: h.baseUrl, key });
});

afterAll(async () => {
  await h?.system.schedules.remove(h.system.scope(), 'nightly').catch(() => undefined);
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

describe('runs', () => {
  it('follows a run through its events to the end, reconnecting after two cuts mid-stream with no event missed or repeated', async () => {
    const key = (await h.system.keys.create({ workspace: 'default', scopes: ['runs:read', 'runs:write'] })).key;
    const cut = cuttingFetch(2, 300);
    const cutClient = createClient({ url: h.baseUrl, key, fetch: cut.fetch });
    const { id, status } = await cutClient.runs.create({ workflow: 'chain' });
    expect(status).toBe('queued');
    const seen: Event[] = [];
    for await (const event of cutClient.runs.events(id, { retryDelayMs: 20 })) seen.push(event);
    expect(cut.lastEventIds).toHaveLength(3);
    expect(cut.lastEventIds[0]).toBeNull();
    expect(cut.lastEventIds.slice(1).every((v) => v !== null && Number(v) >= 1)).toBe(true);
    expect(seen.map((e) => Number(e.id))).toEqual(seen.map((_, i) => i + 1));
    expect(seen.at(-1)).toMatchObject({ type: 'run.finished', data: { status: 'succeeded' } });
    // The same log read again in one go, from a finished run.
    const again: Event[] = [];
    for await (const event of client.runs.events(id)) again.push(event);
    expect(again).toEqual(seen);
    // After the last event: nothing follows, the iterator ends at once.
    const none: Event[] = [];
    for await (const event of client.runs.events(id, { after: seen.at(-1)!.id })) none.push(event);
    expect(none).toEqual([]);

    const run: Run = await client.runs.get(id);
    expect(run.steps.map((s) => [s.stepId, s.status])).toEqual([
      ['a', 'succeeded'],
      ['b', 'succeeded'],
      ['c', 'succeeded'],
    ]);
    expect(run.dag.edges).toHaveLength(2);
    const page = await client.runs.list({ workflow: 'chain', include: ['output'], limit: 5 });
    expect(page.runs[0]).toMatchObject({ id, status: 'succeeded', output: expect.any(String) });

    const rerun = await client.runs.rerun(id, { fromStep: 'c' });
    expect(rerun).toMatchObject({ rerunOf: id, status: 'queued' });
    const finished = await h.waitForRun(rerun.id);
    expect(finished.steps.find((s) => s.stepId === 'a')?.reusedFrom).toBe(id);
  });

  it('approves a gate, cancels another run, and throws 409 on a second cancel', async () => {
    const gated = await client.runs.create({ workflow: 'gated' });
    await h.waitUntil(gated.id, (r) => r.status === 'waiting');
    const { decision } = await client.approvals.approve(gated.id, 'gate', { by: 'ana', comment: 'ship it' });
    expect(decision).toMatchObject({ approved: true, by: 'ana', comment: 'ship it' });
    const types: string[] = [];
    for await (const e of client.runs.events(gated.id)) types.push(e.type);
    expect(types).toContain('step.approved');
    expect(types.at(-1)).toBe('run.finished');

    const other = await client.runs.create({ workflow: 'gated' });
    await h.waitUntil(other.id, (r) => r.status === 'waiting');
    expect(await client.runs.cancel(other.id)).toEqual({ id: other.id, status: 'cancelled' });
    const err = await client.runs.cancel(other.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchyardError);
    expect(err).toMatchObject({ status: 409, code: 'conflict', message: expect.stringContaining('already finished with status cancelled') });
  });

  it('submits and waits: the finished run when it ends in time, else the submission; for a chat too', async () => {
    const done = await client.runs.createAndWait({ agent: 'writer', input: { task: 'quick' } }, 30);
    if (!done.finished) throw new Error(`not finished in time: ${JSON.stringify(done.submitted)}`);
    expect(done.run).toMatchObject({ status: 'succeeded', steps: [{ stepId: 'writer', status: 'succeeded' }] });
    expect(done.run).toEqual(await client.runs.get(done.run.id));
    const late = await client.runs.createAndWait({ agent: 'writer', input: { task: '[[delay:3000]] slow' } }, 0.3);
    expect(late).toEqual({ finished: false, submitted: { id: expect.any(String), status: 'queued' } });
    const chat = await client.chat.multiAndWait({ message: 'hello', agents: ['writer'], mode: 'sequential' }, 30);
    expect(chat.finished && chat.run.status).toBe('succeeded');
    expect(await client.chat.multi({ message: 'hello', agents: ['writer'] })).toEqual({ id: expect.any(String), status: 'queued', mode: 'parallel' });
    await expect(client.runs.createAndWait({ agent: 'writer', input: { task: 't' } }, 61)).rejects.toMatchObject({
      status: 422,
      issues: [{ path: 'query.wait', message: expect.stringContaining('must be at most 60 seconds') }],
    });
    if (!late.finished) await h.waitForRun(late.submitted.id);
  });

  it('throws 4xx answers as SwitchyardError with the status, code, message and issues', async () => {
    await expect(client.runs.get('run_nosuchrun')).rejects.toMatchObject({ status: 404, code: 'not_found' });
    const bad = (await client.runs.create({ agent: 'writer', input: { task: '' } }).catch((e: unknown) => e)) as SwitchyardError;
    expect(bad).toMatchObject({ status: 422, code: 'invalid_request', issues: [{ path: 'input.task', message: 'must not be empty' }] });
    const anonymous = createClient({ url: h.baseUrl });
    await expect(anonymous.runs.list()).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    const events = anonymous.runs.events('run_nosuchrun');
    await expect(events.next()).rejects.toMatchObject({ status: 401 });
  });
});

describe('schedules, agents, workflows, stats', () => {
  it('reads and writes them with typed answers', async () => {
    const schedule = await client.schedules.set('nightly', { workflow: 'chain', cron: '0 3 * * *' });
    expect(schedule).toMatchObject({ id: 'nightly', tz: 'UTC', source: 'api', next: expect.any(String) });
    expect((await client.schedules.list()).map((s) => s.id)).toContain('nightly');
    await client.schedules.delete('nightly');
    await expect(client.schedules.get('nightly')).rejects.toMatchObject({ status: 404 });

    const hook = await client.webhooks.create({ url: 'http://127.0.0.1:9/hook', events: ['run.finished'] });
    expect(hook).toMatchObject({ id: expect.stringMatching(/^wh_/), events: ['run.finished'], signed: false });
    expect((await client.webhooks.list()).map((w) => w.id)).toContain(hook.id);
    expect(await client.webhooks.deliveries(hook.id)).toEqual([]);
    await client.webhooks.delete(hook.id);
    await expect(client.webhooks.deliveries(hook.id)).rejects.toMatchObject({ status: 404 });
    expect((await client.agents.list()).map((a) => a.name)).toContain('writer');
    expect((await client.workflows.list()).map((w) => w.name)).toEqual(expect.arrayContaining(['chain', 'gated']));
    const stats = await client.stats({ workflow: 'chain' });
    expect(stats.runs.succeeded).toBeGreaterThanOrEqual(2);
    expect(stats.agents.writer?.steps).toBeGreaterThanOrEqual(3);
  });
});
