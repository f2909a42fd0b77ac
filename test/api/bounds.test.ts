/**
 * Limits a request could walk around: the event stream cap under a burst, `when` expressions
 * too long or too deep, cron steps out of range, and listings that would read the whole index.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keys } from '../../src/store/keys.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

/** No worker pools: runs stay queued (live), which is all these tests need. */
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'bounds',
    agents: { a: { provider: 'echo' } },
    pools: false,
    workflows: [{ name: 'one', steps: [{ id: 'only', agent: 'a', input: { task: 'x' } }] }],
    env: { SWITCHYARD_MAX_EVENT_STREAMS: '3', SWITCHYARD_MAX_LIST_SCAN: '40' },
    bodyLimit: '1mb',
  });
  // Without workers nothing else waits for Redis: the API answers 503 until its connection is up.
  await poll(
    'the API connection',
    () => h.system.ping(),
    (up) => up,
  );
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

const step = (when: string) => ({ name: 'w', steps: [{ id: 's', agent: 'a', input: { task: 'x' }, when }] });

describe('the event stream cap', () => {
  it('holds under a burst of concurrent connections', async () => {
    const run = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'watched' } });
    expect(run.status).toBe(202);
    const stop = new AbortController();
    // A burst under load: the API's Redis answers come back together (its socket is read only
    // once all the requests are in), so every request goes on in the same turn of the loop.
    const socket = h.system.api.redis.stream;
    // Each request's first command takes its workspace's request rate.
    const rateKey = keys.apiRate(h.system.scope());
    const sent = vi.spyOn(h.system.api.redis, 'sendCommand');
    socket.pause();
    try {
      const answers = Array.from({ length: 30 }, () => fetch(`${h.baseUrl}/v1/runs/${run.body.id}/events`, { signal: stop.signal }));
      await poll(
        'all 30 requests to wait on Redis',
        () => sent.mock.calls.filter(([command]) => command.args.includes(rateKey)).length,
        (n) => n >= 30,
      );
      socket.resume();
      const statuses = (await Promise.all(answers)).map((r) => r.status).sort();
      expect(statuses).toEqual([...Array(3).fill(200), ...Array(27).fill(503)]);
      const refused = (await Promise.all(answers)).find((r) => r.status === 503)!;
      expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('SWITCHYARD_MAX_EVENT_STREAMS');
    } finally {
      socket.resume();
      sent.mockRestore();
      stop.abort();
    }
    // The slots are given back once the streams end.
    await expect
      .poll(async () => (await fetch(`${h.baseUrl}/v1/runs/${run.body.id}/events`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status, {
        timeout: 5000,
      })
      .toBe(200);
  });
});

describe('when expressions', () => {
  it('refuses a 5,000-term chain with a 422 naming the limit (it answered 500)', async () => {
    const chain = Array.from({ length: 5000 }, () => 'input.x == 1').join(' && ');
    const res = await h.request('POST', '/v1/workflows/validate', step(chain));
    expect(res.status).toBe(422);
    expect(res.body.error.issues[0].path).toBe('steps[0].when');
    expect(res.body.error.message).toContain('SWITCHYARD_MAX_EXPRESSION_CHARS');
  });

  it('refuses an expression nested deeper than the limit, and takes one within it', async () => {
    const deep = Array.from({ length: 60 }, () => '1').join(' && ');
    const res = await h.request('POST', '/v1/workflows/validate', step(deep));
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('nests deeper than 50 levels');
    expect(res.body.error.message).toContain('SWITCHYARD_MAX_EXPRESSION_DEPTH');
    const fine = Array.from({ length: 20 }, () => 'steps.a.output.b.c.d == 1').join(' || ');
    const ok = await h.request('POST', '/v1/workflows/validate', {
      name: 'w',
      steps: [
        { id: 'a', agent: 'a', input: { task: 'x' } },
        { id: 's', agent: 'a', input: { task: 'x' }, dependsOn: ['a'], when: fine },
      ],
    });
    expect(ok.status, JSON.stringify(ok.body).slice(0, 300)).toBe(200);
  });
});

describe('cron steps', () => {
  it('refuses a step past its field range with a 422 (it was accepted)', async () => {
    for (const [cron, field] of [
      ['*/1000000000 * * * *', 'minute'],
      ['0 */24 * * *', 'hour'],
      ['*/60 * * * * *', 'second'],
      ['0 0 1 */13 *', 'month'],
    ] as const) {
      const res = await h.request('PUT', '/v1/schedules/steps', { workflow: 'one', cron });
      expect(res.status, cron).toBe(422);
      expect(res.body.error.issues[0].path, cron).toBe('cron');
      expect(res.body.error.message, cron).toContain(`of the ${field} field is out of range`);
    }
    expect((await h.request('GET', '/v1/schedules/steps')).status).toBe(404);
    const ok = await h.request('PUT', '/v1/schedules/steps', { workflow: 'one', cron: '*/15 9-17 * * 1-5' });
    expect(ok.status).toBe(200);
    await h.request('DELETE', '/v1/schedules/steps');
  });

  it('refuses it in a workflow file schedule too', async () => {
    const res = await h.request('POST', '/v1/workflows/validate', {
      name: 's',
      schedule: { cron: '*/100 * * * *' },
      steps: [{ id: 'a', agent: 'a', input: { task: 'x' } }],
    });
    expect(res.status).toBe(422);
    expect(res.body.error.issues[0].path).toBe('schedule.cron');
  });
});

describe('filtered listings read a bounded part of the index', () => {
  let old: string;
  const newer: string[] = [];

  beforeAll(async () => {
    // One old run of its own workflow, cancelled; then 100 newer queued ones of another.
    old = (await h.request('POST', '/v1/runs', { workflow: 'one', input: {} })).body.id;
    expect((await h.request('POST', `/v1/runs/${old}/cancel`)).status).toBe(200);
    for (let i = 0; i < 100; i++) newer.push((await h.request('POST', '/v1/runs', { agent: 'a', input: { task: `n${i}` } })).body.id);
  });

  it("finds a workflow's runs through its own index, however many runs are newer", async () => {
    const res = await h.request('GET', '/v1/runs?workflow=one');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ runs: [expect.objectContaining({ id: old, workflow: 'one', status: 'cancelled' })], nextCursor: null });
    expect(await h.request('GET', '/v1/runs?workflow=nomatch').then((r) => r.body)).toEqual({ runs: [], nextCursor: null });
  });

  it('stops a status filter at the scan bound with a cursor, and the cursor leads to the match', async () => {
    const first = await h.request('GET', '/v1/runs?status=cancelled&limit=5');
    expect(first.status).toBe(200);
    expect(first.body.runs).toEqual([]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const found: string[] = [];
    let cursor: string | null = first.body.nextCursor;
    let pages = 1;
    while (cursor) {
      const page = await h.request('GET', `/v1/runs?status=cancelled&limit=5&cursor=${cursor}`);
      found.push(...page.body.runs.map((r: { id: string }) => r.id));
      cursor = page.body.nextCursor;
      pages++;
      expect(pages).toBeLessThan(10);
    }
    expect(found).toContain(old);
  });

  it('pages an unfiltered listing as before, every run once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { runs: { id: string }[]; nextCursor: string | null } } = await h.request(
        'GET',
        `/v1/runs?limit=30${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.body.runs.map((r) => r.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    for (const id of [old, ...newer])
      expect(
        seen.filter((s) => s === id),
        id,
      ).toHaveLength(1);
  });
});

describe("a workflow's run index", () => {
  const wf = { name: 'indexed', steps: [{ id: 'only', agent: 'a', input: { task: 'x' } }] };
  const index = () => keys.workflowRunIndex(h.system.scope(), 'indexed');
  const submit = async () => (await h.request('POST', '/v1/runs', { workflow: wf, input: {} })).body.id as string;
  const listed = async (): Promise<string[]> => {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { runs: { id: string }[]; nextCursor: string | null } } = await h.request(
        'GET',
        `/v1/runs?workflow=indexed&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      ids.push(...page.body.runs.map((r) => r.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    return ids;
  };

  it('expires a retention period after its last run, and drops runs created before the retention period', async () => {
    const redis = h.system.api.redis;
    // An entry of a run created two retention periods ago (3600 s in the harness).
    await redis.zadd(index(), String(Date.now() - 7200_000), 'run_0ancient');
    const id = await submit();
    expect(await redis.zrange(index(), '0', '-1')).toEqual([id]);
    const ttl = await redis.ttl(index());
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('lives a retention period after each of its runs, however quickly they come (pruned and renewed at most twice a second)', async () => {
    const redis = h.system.api.redis;
    for (let i = 0; i < 5; i++) {
      const id = await submit();
      const created = Number(await redis.zscore(index(), id));
      expect(Number(await redis.call('PEXPIRETIME', index()))).toBeGreaterThanOrEqual(created + 3600_000);
      expect(await redis.ttl(index())).toBeLessThanOrEqual(3600);
    }
    // Left by a longer retention period (since shortened): pruned and given the new one at the next run.
    const old = `${Date.now() - 7200_000}`;
    await redis.zadd(index(), old, 'run_older_than_the_period');
    await redis.pexpire(index(), 7200_000);
    await submit();
    expect(await redis.ttl(index())).toBeLessThanOrEqual(3600);
    expect(await redis.zscore(index(), 'run_older_than_the_period')).toBeNull();
  });

  it('lists runs it does not hold: those created before it existed, and those older than the retention period', async () => {
    const redis = h.system.api.redis;
    const [early, long, recent] = [await submit(), await submit(), await submit()];
    // `early` as a run created by an earlier version (in the main index only, before the
    // workspace's runs were indexed by workflow); `long` as a run still live, created two
    // retention periods ago (a gate that waits: its entry was pruned from the workflow's index).
    const since = Date.now() - 1000;
    await redis.set(keys.workflowIndexSince(h.system.scope()), String(since));
    await redis.zadd(keys.runIndex(h.system.scope()), String(since - 10), early, String(Date.now() - 7200_000), long);
    await redis.zrem(index(), early, long);
    const ids = await listed();
    // Newest first, each once (the first test's run too).
    expect(ids.filter((x) => [early, long, recent].includes(x))).toEqual([recent, early, long]);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
