/**
 * Cron schedules over the API (BullMQ job schedulers on the `schedules` queue): a schedule
 * fires ordinary runs tagged with its id, can be listed, replaced and deleted, and bad cron
 * patterns, time zones and workflows are refused with a 422 naming the field. Schedules
 * declared in workflow definitions are synced as `flow.<name>`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

let h: Harness;

const WORKFLOWS = [
  {
    name: 'ticker',
    input: { label: { type: 'string' } },
    steps: [{ id: 'tick', agent: 'fast', input: { task: 'tick {{input.label}}' } }],
  },
  // Its input renders 20 times into one prompt.
  { name: 'balloon', input: { x: { type: 'string' } }, steps: [{ id: 'big', agent: 'fast', input: { task: '{{input.x}}'.repeat(20) } }] },
  {
    name: 'nightly',
    input: { scope: { type: 'string' } },
    steps: [{ id: 'report', agent: 'fast', input: { task: 'report on {{input.scope}}' } }],
    // Once a year: it never fires during the test.
    schedule: { cron: '0 3 1 1 *', tz: 'Europe/Paris', input: { scope: 'everything' } },
  },
];

beforeAll(async () => {
  h = await startHarness({
    name: 'schedules',
    agents: { fast: { provider: 'echo', echo: { latencyMs: 10 }, attempts: 1 } },
    workflows: WORKFLOWS,
  });
});

afterAll(async () => {
  // Leave no scheduler behind even when a test failed half-way.
  for (const s of (await h?.system.schedules.list(h.system.scope()).catch(() => [])) ?? []) await h.system.scheduleQueue.removeJobScheduler(s.id);
  await h?.close();
  assertAllClosed();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runsOf(workflow: string): Promise<{ id: string; scheduleId: string | null; status: string; input: unknown }[]> {
  const res = await h.request('GET', `/v1/runs?workflow=${workflow}&limit=200&include=input`);
  expect(res.status).toBe(200);
  return res.body.runs;
}

describe('an API schedule', () => {
  it('fires runs every second tagged with its id, is listed, and stops once deleted', async () => {
    const body = { workflow: 'ticker', cron: '* * * * * *', tz: 'UTC', input: { label: 'every-second' } };
    const put = await h.request('PUT', '/v1/schedules/every-second', body);
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ id: 'every-second', workflow: 'ticker', cron: '* * * * * *', tz: 'UTC', input: { label: 'every-second' }, source: 'api' });
    expect(put.body.next).toEqual(expect.any(String));
    expect(Number.isNaN(Date.parse(put.body.next))).toBe(false);

    const fired = await poll(
      'a scheduled run',
      () => runsOf('ticker'),
      (runs) => runs.some((r) => r.scheduleId === 'every-second'),
      { timeoutMs: 6_000, intervalMs: 50 },
    );
    const first = fired.find((r) => r.scheduleId === 'every-second')!;
    expect(first.input).toEqual({ label: 'every-second' });
    const run = await h.waitForRun(first.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('[fast] tick every-second');
    expect(run.scheduleId).toBe('every-second');

    const list = await h.request('GET', '/v1/schedules');
    expect(list.status).toBe(200);
    expect(list.body.schedules).toContainEqual(
      expect.objectContaining({ id: 'every-second', workflow: 'ticker', cron: '* * * * * *', tz: 'UTC', source: 'api' }),
    );
    const one = await h.request('GET', '/v1/schedules/every-second');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: 'every-second', workflow: 'ticker' });

    const del = await h.request('DELETE', '/v1/schedules/every-second');
    expect(del.status).toBe(204);
    expect(del.body).toBeNull();
    const gone = await h.request('GET', '/v1/schedules/every-second');
    expect(gone.status).toBe(404);
    expect(gone.body.error.message).toContain('every-second');
    expect((await h.request('GET', '/v1/schedules')).body.schedules.map((s: { id: string }) => s.id)).not.toContain('every-second');

    // No firing is left pending, and no new run appears over the next ticks.
    await poll(
      'the schedules queue to drain',
      () => h.system.scheduleQueue.getJobCounts('delayed', 'waiting', 'active', 'prioritized'),
      (c) => Object.values(c).every((n) => n === 0),
      { timeoutMs: 6_000, intervalMs: 50 },
    );
    const before = (await runsOf('ticker')).length;
    // Just over one tick of the every-second schedule: a firing left behind would show in it.
    await sleep(1_100);
    expect((await runsOf('ticker')).length).toBe(before);
    for (const r of await runsOf('ticker')) await h.waitForRun(r.id);
  });

  it('is replaced by a second PUT with the same id', async () => {
    const first = await h.request('PUT', '/v1/schedules/replace-me', { workflow: 'ticker', cron: '0 9 * * 1', input: { label: 'a' } });
    expect(first.status).toBe(200);
    expect(first.body.tz).toBe('UTC');
    const second = await h.request('PUT', '/v1/schedules/replace-me', {
      workflow: 'ticker',
      cron: '30 18 * * 5',
      tz: 'America/New_York',
      input: { label: 'b' },
    });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ id: 'replace-me', cron: '30 18 * * 5', tz: 'America/New_York', input: { label: 'b' } });
    const all = (await h.request('GET', '/v1/schedules')).body.schedules.filter((s: { id: string }) => s.id === 'replace-me');
    expect(all).toHaveLength(1);
    expect((await h.request('DELETE', '/v1/schedules/replace-me')).status).toBe(204);
  });

  it('answers 404 when deleting an unknown schedule', async () => {
    const res = await h.request('DELETE', '/v1/schedules/no-such-schedule');
    expect(res.status).toBe(404);
  });
});

describe('an invalid schedule', () => {
  const paths = (body: { error: { issues?: { path: string }[] } }) => (body.error.issues ?? []).map((i) => i.path);

  it('is refused with 422 naming cron when the pattern is invalid', async () => {
    for (const cron of ['every minute', '61 * * * *', '* *']) {
      const res = await h.request('PUT', '/v1/schedules/bad-cron', { workflow: 'ticker', cron, input: { label: 'x' } });
      expect(res.status, cron).toBe(422);
      expect(paths(res.body), cron).toContain('cron');
      expect(res.body.error.message, cron).toContain('cron');
    }
    expect((await h.request('GET', '/v1/schedules/bad-cron')).status).toBe(404);
  });

  it('is refused with 422 naming id when the schedule id is not usable', async () => {
    const res = await h.request('PUT', `/v1/schedules/${encodeURIComponent('bad id!')}`, { workflow: 'ticker', cron: '* * * * *', input: { label: 'x' } });
    expect(res.status).toBe(422);
    expect(paths(res.body)).toContain('id');
  });

  it('is refused with 422 naming tz when the time zone is unknown', async () => {
    const res = await h.request('PUT', '/v1/schedules/bad-tz', { workflow: 'ticker', cron: '* * * * *', tz: 'Mars/Olympus_Mons', input: { label: 'x' } });
    expect(res.status).toBe(422);
    expect(paths(res.body)).toContain('tz');
    expect(res.body.error.message).toContain('Mars/Olympus_Mons');
    expect((await h.request('GET', '/v1/schedules/bad-tz')).status).toBe(404);
  });

  it('is refused with 422 when the workflow is unknown, listing the known ones', async () => {
    const res = await h.request('PUT', '/v1/schedules/bad-flow', { workflow: 'no-such-flow', cron: '* * * * *' });
    expect(res.status).toBe(422);
    expect(paths(res.body)).toContain('workflow');
    expect(res.body.error.message).toContain('no-such-flow');
    expect(res.body.error.message).toContain('ticker');
    expect((await h.request('GET', '/v1/schedules/bad-flow')).status).toBe(404);
  });

  it('is refused with 422 naming input.<field> when the run input does not fit the workflow', async () => {
    const res = await h.request('PUT', '/v1/schedules/bad-input', { workflow: 'ticker', cron: '* * * * *', input: { label: 7 } });
    expect(res.status).toBe(422);
    expect(paths(res.body)).toContain('input.label');
    expect((await h.request('GET', '/v1/schedules/bad-input')).status).toBe(404);
  });

  it('is refused with 422 when every firing would render a prompt past SWITCHYARD_MAX_RENDERED_BYTES', async () => {
    const res = await h.request('PUT', '/v1/schedules/bad-size', { workflow: 'balloon', cron: '* * * * *', input: { x: 'x'.repeat(60_000) } });
    expect(res.status).toBe(422);
    expect(res.body.error.issues).toEqual([
      {
        path: 'steps.big.input',
        message: `step "big": its input renders to 1200000 bytes of text from the run input alone; at most ${1024 * 1024} (SWITCHYARD_MAX_RENDERED_BYTES)`,
      },
    ]);
    expect((await h.request('GET', '/v1/schedules/bad-size')).status).toBe(404);
  });
});

describe('schedules declared in workflows', () => {
  it('are synced as flow.<name>, stale flow.* schedules are removed and API schedules kept', async () => {
    // A schedule left over from a workflow that no longer declares one (as an earlier
    // deployment's sync left it), and an API schedule.
    await h.system.scheduleQueue.upsertJobScheduler(
      'flow.retired',
      { pattern: '0 0 1 1 *', tz: 'UTC' },
      { name: 'fire', data: { scheduleId: 'flow.retired', workflow: 'ticker', input: { label: 'old' } } },
    );
    expect((await h.request('PUT', '/v1/schedules/keep-me', { workflow: 'ticker', cron: '0 0 1 1 *', input: { label: 'kept' } })).status).toBe(200);

    const result = await h.system.schedules.syncFromFlows(h.system.scope());
    expect(result.upserted).toEqual(['flow.nightly']);
    expect(result.removed).toEqual(['flow.retired']);

    const list = (await h.request('GET', '/v1/schedules')).body.schedules as { id: string }[];
    expect(list.map((s) => s.id).sort()).toEqual(['flow.nightly', 'keep-me']);
    const nightly = await h.request('GET', '/v1/schedules/flow.nightly');
    expect(nightly.status).toBe(200);
    expect(nightly.body).toMatchObject({
      id: 'flow.nightly',
      workflow: 'nightly',
      cron: '0 3 1 1 *',
      tz: 'Europe/Paris',
      input: { scope: 'everything' },
      source: 'flows',
    });
    expect(nightly.body.next).toEqual(expect.any(String));

    // Syncing again changes nothing.
    expect(await h.system.schedules.syncFromFlows(h.system.scope())).toEqual({ upserted: ['flow.nightly'], removed: [] });
    expect(((await h.request('GET', '/v1/schedules')).body.schedules as { id: string }[]).map((s) => s.id).sort()).toEqual(['flow.nightly', 'keep-me']);

    // flow.* schedules belong to flows/: the API refuses to change them.
    const put = await h.request('PUT', '/v1/schedules/flow.nightly', { workflow: 'ticker', cron: '0 0 1 1 *', input: { label: 'x' } });
    expect(put.status).toBe(409);
    expect(put.body.error.message).toContain('flows/');
    expect((await h.request('DELETE', '/v1/schedules/flow.nightly')).status).toBe(409);

    expect((await h.request('DELETE', '/v1/schedules/keep-me')).status).toBe(204);
    await h.system.scheduleQueue.removeJobScheduler('flow.nightly');
  });
});
