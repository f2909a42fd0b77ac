/**
 * Workspaces are isolated: with one workspace's credential, another workspace's runs, steps,
 * events, messages, approvals, feedback and schedules answer 404 (reads, writes, cancels, reruns, event
 * streams), and lists, stats and insights never include them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { readEventStream } from '../helpers/sse.js';

const ALL = ['runs:write', 'runs:read', 'schedules:write'] as const;
let h: Harness;
let acme: Record<string, string>;
let beta: Record<string, string>;
let doneRun: string;
let gateRun: string;

beforeAll(async () => {
  h = await startHarness({
    name: 'isolation',
    agents: { a: { provider: 'echo' } },
    workflows: [
      {
        name: 'gated',
        steps: [
          { id: 'draft', agent: 'a', input: { task: 'draft' } },
          { id: 'gate', kind: 'approval', dependsOn: ['draft'] },
        ],
      },
      { name: 'ticker', steps: [{ id: 'tick', agent: 'a', input: { task: 'tick' } }] },
    ],
  });
  const key = async (workspace: string) => ({ authorization: `Bearer ${(await h.system.keys.create({ workspace, scopes: [...ALL] })).key}` });
  acme = await key('acme');
  beta = await key('beta');
  const done = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'secret plans' }, idempotencyKey: 'same-key' }, acme);
  doneRun = done.body.id;
  const gate = await h.request('POST', '/v1/runs', { workflow: 'gated' }, acme);
  gateRun = gate.body.id;
  // Wait as acme: the run finishes, the gate waits.
  await poll(
    'the run to finish and the gate to wait',
    async () => (await Promise.all([doneRun, gateRun].map((id) => h.request('GET', `/v1/runs/${id}`, undefined, acme)))).map((r) => r.body.status),
    ([a, g]) => a === 'succeeded' && g === 'waiting',
    { timeoutMs: 20_000 },
  );
}, 30_000);

afterAll(async () => {
  for (const s of (await h?.system.schedules.list(h.system.scope('acme')).catch(() => [])) ?? []) await h.system.schedules.remove(h.system.scope('acme'), s.id);
  for (const s of (await h?.system.schedules.list(h.system.scope('beta')).catch(() => [])) ?? []) await h.system.schedules.remove(h.system.scope('beta'), s.id);
  await h?.close();
  assertAllClosed();
});

describe("another workspace's run", () => {
  it('is not found by reads: the run, its context, its work outputs, its event stream', async () => {
    for (const path of [
      `/v1/runs/${doneRun}`,
      `/v1/runs/${doneRun}?include=definition`,
      `/v1/runs/${doneRun}/context`,
      `/v1/runs/${doneRun}/outputs`,
      `/v1/runs/${doneRun}/messages`,
      `/v1/runs/${doneRun}/events`,
    ]) {
      const res = await h.request('GET', path, undefined, beta);
      expect(res.status, path).toBe(404);
      expect(JSON.stringify(res.body)).not.toContain('secret plans');
    }
    // The owner reads all of it, its event stream to the end.
    const { status, events } = await readEventStream(h.baseUrl, doneRun, acme);
    expect(status).toBe(200);
    expect(events.at(-1)?.event).toBe('run.finished');
  });

  it('is not found by writes: cancel, rerun, approve, reject, feedback; and it is left unchanged', async () => {
    const writes: [string, unknown][] = [
      [`/v1/runs/${gateRun}/cancel`, {}],
      [`/v1/runs/${doneRun}/rerun`, { fromStep: 'a' }],
      [`/v1/runs/${gateRun}/steps/gate/approve`, { by: 'mallory' }],
      [`/v1/runs/${gateRun}/steps/gate/reject`, { by: 'mallory' }],
      [`/v1/runs/${doneRun}/steps/a/feedback`, { rating: 1 }],
    ];
    for (const [path, body] of writes) expect((await h.request('POST', path, body, beta)).status, path).toBe(404);
    const gate = await h.request('GET', `/v1/runs/${gateRun}`, undefined, acme);
    expect(gate.body.status).toBe('waiting');
    // The owner can do each of them.
    expect((await h.request('POST', `/v1/runs/${gateRun}/steps/gate/approve`, { by: 'alice' }, acme)).status).toBe(200);
    expect((await h.request('POST', `/v1/runs/${doneRun}/steps/a/feedback`, { rating: 1 }, acme)).status).toBe(200);
    expect((await h.request('POST', `/v1/runs/${doneRun}/rerun`, { fromStep: 'a' }, acme)).status).toBe(202);
  });

  it('never appears in lists or stats, and an idempotency key of one workspace names nothing in another', async () => {
    const list = await h.request('GET', '/v1/runs', undefined, beta);
    expect(list.status).toBe(200);
    expect(list.body.runs).toEqual([]);
    expect((await h.request('GET', '/v1/runs', undefined, acme)).body.runs.map((r: { id: string }) => r.id)).toEqual(
      expect.arrayContaining([doneRun, gateRun]),
    );
    const stats = await h.request('GET', '/v1/stats', undefined, beta);
    expect(stats.status).toBe(200);
    expect(JSON.stringify(stats.body)).not.toMatch(/"runs":[1-9]/);
    const insights = await h.request('GET', '/v1/insights', undefined, beta);
    expect(insights.status).toBe(200);
    expect(insights.body).toMatchObject({ agents: {}, workflows: {}, suggestions: [], scanned: 0 });
    const same = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'mine' }, idempotencyKey: 'same-key' }, beta);
    expect(same.status).toBe(202);
    expect(same.body.id).not.toBe(doneRun);
  });
});

describe("another workspace's schedules", () => {
  it('are not listed, read, changed or removed; each workspace may use the same id', async () => {
    const body = { workflow: 'ticker', cron: '0 0 1 1 *' };
    expect((await h.request('PUT', '/v1/schedules/nightly', body, acme)).status).toBe(200);
    expect((await h.request('GET', '/v1/schedules', undefined, beta)).body.schedules).toEqual([]);
    expect((await h.request('GET', '/v1/schedules/nightly', undefined, beta)).status).toBe(404);
    expect((await h.request('DELETE', '/v1/schedules/nightly', undefined, beta)).status).toBe(404);
    // beta's own `nightly` is another schedule; acme's is untouched.
    expect((await h.request('PUT', '/v1/schedules/nightly', { ...body, cron: '0 0 2 1 *' }, beta)).status).toBe(200);
    expect((await h.request('GET', '/v1/schedules/nightly', undefined, acme)).body.cron).toBe('0 0 1 1 *');
    expect((await h.request('GET', '/v1/schedules/nightly', undefined, beta)).body.cron).toBe('0 0 2 1 *');
    // Its firings run in its workspace.
    const scheduler = await h.system.scheduleQueue.getJobScheduler('ws~beta~nightly');
    expect((scheduler?.template?.data as { workspaceId?: string }).workspaceId).toBe('beta');
  });
});
