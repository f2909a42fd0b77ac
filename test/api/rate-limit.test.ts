/**
 * Each workspace's request rate on the API: over its burst a workspace gets 429 with
 * `Retry-After` and an error naming the limit and its settings, logged once per burst at warn;
 * another workspace is not affected; health checks, /readyz and Bull Board's static files are
 * not counted; 0 turns the limit off. The rate is one request per 100 s, so no request of a
 * test is let through by the passing of time however slow the machine is.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/store/keys.js';
import { scopeOf } from '../../src/store/scope.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

interface LogLine {
  level: number;
  msg: string;
  refusal?: string;
  status?: number;
  message?: string;
}

const agents = { a: { provider: 'echo' } };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const BURST = 3;

afterAll(() => assertAllClosed());

describe('a workspace over its request rate', () => {
  let h: Harness;
  const lines: LogLine[] = [];
  const key: Record<string, string> = {};
  beforeAll(async () => {
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
    h = await startHarness({
      name: 'api-rate',
      agents,
      pools: false,
      logger,
      env: { SWITCHYARD_API_RATE_PER_WORKSPACE: '0.01', SWITCHYARD_API_BURST_PER_WORKSPACE: String(BURST) },
    });
    for (const [name, scopes] of [
      ['acme', ['runs:read']],
      ['globex', ['runs:read']],
      ['initech', ['runs:read']],
      ['ops', ['admin']],
    ] as const)
      key[name] = (await h.system.keys.create({ workspace: name, scopes: [...scopes] })).key;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('gets its burst, then 429 with Retry-After and an error naming the limit and the settings', async () => {
    for (let i = 0; i < BURST; i++) expect((await h.request('GET', '/v1/runs', undefined, bearer(key.acme!))).status).toBe(200);
    const res = await h.request('GET', '/v1/runs', undefined, bearer(key.acme!));
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(100);
    expect(res.body.error.code).toBe('rate_limited');
    for (const part of ['workspace "acme"', '0.01 requests per second, bursts of 3', 'SWITCHYARD_API_RATE_PER_WORKSPACE', 'SWITCHYARD_API_BURST_PER_WORKSPACE'])
      expect(res.body.error.message).toContain(part);
    // Its state is one key under the workspace's scope, expiring once back at rest.
    const state = keys.apiRate(scopeOf(h.system.cell, 'acme'));
    expect(await h.system.api.redis.pttl(state)).toBeGreaterThan(0);
  });

  it('admits exactly its burst of requests sent at once (one atomic count per request)', async () => {
    const answers = await Promise.all(Array.from({ length: 12 }, () => h.request('GET', '/v1/runs', undefined, bearer(key.initech!))));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([...Array(BURST).fill(200), ...Array(12 - BURST).fill(429)]);
  });

  it('does not affect another workspace', async () => {
    for (let i = 0; i < BURST; i++) expect((await h.request('GET', '/v1/runs', undefined, bearer(key.globex!))).status).toBe(200);
    expect((await h.request('GET', '/v1/runs', undefined, bearer(key.globex!))).status).toBe(429);
    // acme is still refused: globex's burst took nothing of its own, nor gave it any.
    expect((await h.request('GET', '/v1/runs', undefined, bearer(key.acme!))).status).toBe(429);
  });

  it('counts no refused request, and gives a workspace back at rest its whole burst', async () => {
    const state = keys.apiRate(scopeOf(h.system.cell, 'globex'));
    const before = await h.system.api.redis.get(state);
    expect((await h.request('GET', '/v1/runs', undefined, bearer(key.globex!))).status).toBe(429);
    expect(await h.system.api.redis.get(state)).toBe(before);
    // At rest: its next request's theoretical arrival time is behind Redis' clock (as after 300 s without a request).
    const [seconds, micros] = await h.system.api.redis.time();
    await h.system.api.redis.set(state, String(Number(seconds) * 1_000_000 + Number(micros) - 1), 'PX', 60_000);
    for (let i = 0; i < BURST; i++) expect((await h.request('GET', '/v1/runs', undefined, bearer(key.globex!))).status).toBe(200);
    expect((await h.request('GET', '/v1/runs', undefined, bearer(key.globex!))).status).toBe(429);
  });

  it('logs a burst of refusals once per workspace, at warn', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, () => h.request('GET', '/v1/stats', undefined, bearer(key.acme!))));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(429));
    const refusals = lines.filter((l) => l.refusal?.startsWith('api_rate:'));
    expect(refusals.map((l) => [l.refusal, l.level, l.status])).toEqual([
      ['api_rate:acme', 40, 429],
      ['api_rate:initech', 40, 429],
      ['api_rate:globex', 40, 429],
    ]);
    expect(JSON.stringify(lines)).not.toContain(key.acme!);
  });

  it('does not count health checks, /readyz nor Bull Board static files', async () => {
    for (let i = 0; i < BURST; i++) expect((await h.request('GET', '/metrics', undefined, bearer(key.ops!))).status).toBe(200);
    expect((await h.request('GET', '/metrics', undefined, bearer(key.ops!))).status).toBe(429);
    for (let i = 0; i < BURST + 2; i++) {
      expect((await h.request('GET', '/healthz')).status).toBe(200);
      expect((await h.request('GET', '/readyz')).status).toBe(200);
      expect((await h.request('GET', '/admin/queues/static/favicon.ico', undefined, bearer(key.ops!))).status).toBe(200);
    }
    // The board's pages and its API are counted like any other request.
    expect((await h.request('GET', '/admin/queues/api/queues', undefined, bearer(key.ops!))).status).toBe(429);
  });
});

describe('a rate of 0', () => {
  it('turns the limit off', async () => {
    const h = await startHarness({
      name: 'api-rate-off',
      agents,
      pools: false,
      env: { SWITCHYARD_API_RATE_PER_WORKSPACE: '0', SWITCHYARD_API_BURST_PER_WORKSPACE: '1' },
    });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => h.request('GET', '/v1/runs')));
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
      expect(await h.system.api.redis.exists(keys.apiRate(h.system.scope()))).toBe(0);
    } finally {
      await h.close();
    }
  });
});
