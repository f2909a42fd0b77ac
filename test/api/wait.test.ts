/**
 * Submit and wait (`?wait=<seconds>`) on POST /v1/runs and POST /v1/chat/multi, on the real
 * server (real Redis, BullMQ workers, echo agents): a run that ends in time answers 200 with
 * the run as GET /v1/runs/:id shows it; one that does not answers 202 as without `wait`, once
 * the time is up; a wait past SWITCHYARD_MAX_WAIT_SECONDS, or not a number, is refused naming
 * the bound, before any run is made; waiters share the process's one event subscriber and a
 * client that goes away, or the process shutting down, stops its wait. Every route refuses an
 * unknown query parameter. The answers match GET /openapi.json.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { SpecChecker, type Spec } from '../helpers/openapi.js';

const MAX = 30;
let h: Harness;
let checker: SpecChecker;

beforeAll(async () => {
  h = await startHarness({
    name: 'wait',
    agents: { fast: { provider: 'echo' }, other: { provider: 'echo' }, slow: { provider: 'echo', echo: { latencyMs: 60_000 } } },
    env: { SWITCHYARD_MAX_WAIT_SECONDS: String(MAX) },
  });
  checker = new SpecChecker((await h.request('GET', '/openapi.json')).body as Spec);
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await h.request(method, path, body);
  checker.check(method, path.split('?')[0]!, res);
  return res;
}

const feed = () => h.system.api.store.events.feedStats();

describe('?wait on POST /v1/runs', () => {
  it('answers 200 with the finished run, the same body as GET /v1/runs/:id, when it ends in time', async () => {
    const res = await call('POST', `/v1/runs?wait=${MAX}`, { agent: 'fast', input: { task: 'hello there' } });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('succeeded');
    expect(JSON.stringify(res.body.output)).toContain('hello there');
    expect(res.body.steps).toHaveLength(1);
    expect(res.headers.get('location')).toBe(`/v1/runs/${res.body.id as string}`);
    expect(res.body).toEqual((await h.request('GET', `/v1/runs/${res.body.id as string}`)).body);
    await expect.poll(feed).toEqual({ runs: 0, viewers: 0 });
  });

  it('answers 202 as without wait once the time is up, the run going on', async () => {
    const started = Date.now();
    const res = await call('POST', '/v1/runs?wait=1', { agent: 'slow', input: { task: 'takes a minute' } });
    expect(res.status).toBe(202);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950); // it did wait
    expect(Object.keys(res.body).sort()).toEqual(['id', 'status']);
    const run = (await h.request('GET', `/v1/runs/${res.body.id as string}`)).body;
    expect(['queued', 'running']).toContain(run.status);
    await expect.poll(feed).toEqual({ runs: 0, viewers: 0 });
    await h.request('POST', `/v1/runs/${res.body.id as string}/cancel`);
  });

  it('without wait (or wait=0) answers 202 at once, as before', async () => {
    for (const path of ['/v1/runs', '/v1/runs?wait=0']) {
      const res = await call('POST', path, { agent: 'fast', input: { task: 'no wait' } });
      expect(res.status, path).toBe(202);
      expect(Object.keys(res.body).sort()).toEqual(['id', 'status']);
      await h.waitForRun(res.body.id as string);
    }
  });

  it('an idempotent replay of a finished run waits for nothing: 200 with the run', async () => {
    const body = { agent: 'fast', input: { task: 'once' }, idempotencyKey: 'wait-replay' };
    const first = await call('POST', `/v1/runs?wait=${MAX}`, body);
    expect(first.status).toBe(200);
    const again = await call('POST', '/v1/runs?wait=1', body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    // Without wait, the replay is answered as before.
    expect((await call('POST', '/v1/runs', body)).body).toEqual({ id: first.body.id, status: 'succeeded', idempotentReplay: true });
  });

  it(`refuses a wait over the maximum (${MAX} s, SWITCHYARD_MAX_WAIT_SECONDS) or that is no number, naming it, and makes no run`, async () => {
    const before = (await h.request('GET', '/v1/runs?limit=200')).body.runs.length as number;
    const over = await call('POST', `/v1/runs?wait=${MAX + 1}`, { agent: 'fast', input: { task: 't' } });
    expect(over.status).toBe(422);
    expect(over.body.error.issues).toEqual([
      { path: 'query.wait', message: expect.stringContaining(`must be at most ${MAX} seconds (SWITCHYARD_MAX_WAIT_SECONDS)`) },
    ]);
    for (const bad of ['true', '-1', 'soon']) {
      const res = await call('POST', `/v1/runs?wait=${bad}`, { agent: 'fast', input: { task: 't' } });
      expect(res.status, bad).toBe(422);
      expect(res.body.error.issues, bad).toEqual([{ path: 'query.wait', message: `must be a number of seconds from 0 to ${MAX}` }]);
    }
    const chat = await call('POST', `/v1/chat/multi?wait=${MAX + 1}`, { message: 'm', agents: ['fast'] });
    expect(chat.status).toBe(422);
    expect(chat.body.error.message).toContain(`at most ${MAX} seconds`);
    expect((await h.request('GET', '/v1/runs?limit=200')).body.runs.length).toBe(before);
  });

  it('stops waiting when the client goes away: the waiter leaves the event feed at once, not after its time', async () => {
    const gone = new AbortController();
    const answer = fetch(`${h.baseUrl}/v1/runs?wait=${MAX}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'slow', input: { task: 'abandoned' } }),
      signal: gone.signal,
    }).catch((err: unknown) => err as Error);
    await expect.poll(feed, { timeout: 10_000 }).toEqual({ runs: 1, viewers: 1 });
    gone.abort();
    expect(((await answer) as Error).name).toBe('AbortError');
    // Well before the 30 s it asked for.
    await expect.poll(feed, { timeout: 10_000 }).toEqual({ runs: 0, viewers: 0 });
    const runs = (await h.request('GET', '/v1/runs?agent=slow&status=running')).body.runs as { id: string }[];
    const queued = (await h.request('GET', '/v1/runs?agent=slow&status=queued')).body.runs as { id: string }[];
    for (const r of [...runs, ...queued]) await h.request('POST', `/v1/runs/${r.id}/cancel`);
  });

  it('answers 202 at once when the process shuts down, the run going on', async () => {
    const shutdown = new AbortController();
    const app = createApp(h.system, { bodyLimit: '100kb', shutdownSignal: shutdown.signal });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const answer = fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/runs?wait=${MAX}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent: 'slow', input: { task: 'shut down' } }),
      });
      await expect.poll(feed, { timeout: 10_000 }).toEqual({ runs: 1, viewers: 1 });
      shutdown.abort();
      const res = await answer;
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      expect(['queued', 'running']).toContain((await h.request('GET', `/v1/runs/${id}`)).body.status);
      await expect.poll(feed).toEqual({ runs: 0, viewers: 0 });
      await h.request('POST', `/v1/runs/${id}/cancel`);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('many waiters share the one subscriber connection of the process', async () => {
    const duplicate = vi.spyOn(h.system.api.redis, 'duplicate');
    try {
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) => call('POST', `/v1/runs?wait=${MAX}`, { agent: i % 2 ? 'fast' : 'other', input: { task: `many ${i}` } })),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
      expect(answers.map((a) => a.body.status)).toEqual(Array(12).fill('succeeded'));
      // At most the feed's one subscriber (none when an earlier test of the file made it already).
      expect(duplicate.mock.calls.length).toBeLessThanOrEqual(1);
      await expect.poll(feed).toEqual({ runs: 0, viewers: 0 });
    } finally {
      duplicate.mockRestore();
    }
  });
});

describe('waiters and the event stream slots', () => {
  it('a wait takes a slot of SWITCHYARD_MAX_EVENT_STREAMS; with none free a submission answers 202 at once', async () => {
    const small = await startHarness({
      name: 'wait-slots',
      agents: { fast: { provider: 'echo' }, slow: { provider: 'echo', echo: { latencyMs: 60_000 } } },
      env: { SWITCHYARD_MAX_EVENT_STREAMS: '1' },
    });
    try {
      const first = small.request('POST', '/v1/runs?wait=20', { agent: 'slow', input: { task: 'holds the slot' } });
      await expect.poll(() => small.system.api.store.events.feedStats(), { timeout: 10_000 }).toEqual({ runs: 1, viewers: 1 });
      const second = await small.request('POST', '/v1/runs?wait=20', { agent: 'fast', input: { task: 'no slot' } });
      expect(second.status).toBe(202);
      // The event stream has no slot either: 503, as before.
      expect((await small.request('GET', `/v1/runs/${second.body.id as string}/events`)).status).toBe(503);
      const held = (await small.request('GET', '/v1/runs?agent=slow')).body.runs as { id: string }[];
      await small.request('POST', `/v1/runs/${held[0]!.id}/cancel`);
      // The cancel finishes the run: the first wait answers 200 with it, and frees its slot.
      const answer = await first;
      expect(answer.status).toBe(200);
      expect(answer.body.status).toBe('cancelled');
      expect((await small.request('POST', '/v1/runs?wait=20', { agent: 'fast', input: { task: 'a slot again' } })).status).toBe(200);
    } finally {
      await small.close();
    }
  });
});

describe('?wait on POST /v1/chat/multi', () => {
  it('answers 200 with the finished run of every agent when it ends in time, else 202 with its mode', async () => {
    const done = await call('POST', `/v1/chat/multi?wait=${MAX}`, { message: 'ping', agents: ['fast', 'other'] });
    expect(done.status).toBe(200);
    expect(done.body.status).toBe('succeeded');
    const agents = (done.body.steps as { agent: string | null; status: string }[]).filter((s) => s.agent).map((s) => [s.agent, s.status]);
    expect(agents.sort()).toEqual([
      ['fast', 'succeeded'],
      ['other', 'succeeded'],
    ]);
    expect(done.body).toEqual((await h.request('GET', `/v1/runs/${done.body.id as string}`)).body);
    const late = await call('POST', '/v1/chat/multi?wait=0.5', { message: 'ping', agents: ['slow'], mode: 'sequential' });
    expect(late.status).toBe(202);
    expect(late.body).toEqual({ id: expect.any(String), status: 'queued', mode: 'sequential' });
    await h.request('POST', `/v1/runs/${late.body.id as string}/cancel`);
  });
});

describe('unknown query parameters', () => {
  it('are refused by every route GET /openapi.json describes, naming the parameter', async () => {
    const sample: Record<string, string> = { id: 'run_0mx55q17idf6fdb956c48', stepId: 'task', file: 'swagger-ui.css', scope: 'openai%2Fgpt-4o' };
    const refused: string[] = [];
    const other: string[] = [];
    for (const [template, ops] of Object.entries(checker.spec.paths)) {
      // The login form is checked as a credential first (access comes before the query, and a key would end the open mode of this file).
      const methods = Object.keys(ops).filter((m) => !(template === '/admin/login' && m === 'post'));
      const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => sample[name] ?? 'x');
      for (const method of methods.map((m) => m.toUpperCase())) {
        const res = await h.request(method, `${path}?bogus=1`, method === 'GET' || method === 'DELETE' ? undefined : {});
        if (res.status === 422 && res.body?.error?.issues?.[0]?.path === 'query.bogus') refused.push(`${method} ${template}`);
        else other.push(`${method} ${template}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      }
    }
    expect(other).toEqual([]);
    expect(refused.length).toBeGreaterThan(40);
  });

  it('are refused on the routes that take wait, naming the parameter and wait, and on others naming what they take', async () => {
    const runs = await call('POST', '/v1/runs?wiat=10', { agent: 'fast', input: { task: 't' } });
    expect(runs.status).toBe(422);
    expect(runs.body.error.issues).toEqual([{ path: 'query.wiat', message: 'unknown query parameter "wiat": POST /v1/runs takes wait' }]);
    const chat = await call('POST', '/v1/chat/multi?timeout=10', { message: 'm', agents: ['fast'] });
    expect(chat.body.error.issues).toEqual([{ path: 'query.timeout', message: 'unknown query parameter "timeout": POST /v1/chat/multi takes wait' }]);
    const cancel = await call('POST', '/v1/runs/run_0mx55q17idf6fdb956c48/cancel?wait=5');
    expect(cancel.status).toBe(422);
    expect(cancel.body.error.message).toContain('unknown query parameter "wait"');
    expect((await call('GET', '/v1/agents?wait=5')).body.error.message).toContain('GET /v1/agents takes include');
  });
});
