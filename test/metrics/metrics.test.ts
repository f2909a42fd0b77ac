/**
 * GET /metrics in Prometheus text format (prom-client): step durations, tokens and cost per
 * agent, 429s, limiter waits, queue depths and breaker state read from Redis at scrape time;
 * and a worker process without the API serving them on SWITCHYARD_METRICS_PORT.
 */
import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { REDIS_URL, cleanupPrefix, newRedis, testPrefix } from '../helpers/redis.js';
import { nodeArgs } from '../helpers/node-entry.js';

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'metrics',
    fake,
    agents: { m: { provider: 'openai', model: 'gpt-4o', attempts: 2 } },
    providers: { openai: { breaker: { failures: 100 } } },
  });
}, 30_000);
afterEach(() => fake.reset());
afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

const scrape = async (): Promise<string> => {
  const res = await fetch(`${h.baseUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
};
const value = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('GET /metrics', () => {
  it('counts steps, tokens, cost and 429s, and reads queue depths and breaker state from Redis', async () => {
    let first = true;
    fake.respondWith(() => {
      if (!first) return undefined;
      first = false;
      return { status: 429, headers: { 'retry-after-ms': '50' } };
    });
    const r = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'm', input: { task: 'count me' } })).body.id, 20_000);
    expect(r.status).toBe('succeeded');
    const text = await scrape();
    expect(value(text, 'switchyard_step_duration_seconds_count{agent="m",kind="agent",status="succeeded"}')).toBe(1);
    const usage = r.steps[0]!.usage!;
    expect(value(text, 'switchyard_tokens_total{agent="m",model="gpt-4o",direction="input"}')).toBe(usage.inputTokens);
    expect(value(text, 'switchyard_tokens_total{agent="m",model="gpt-4o",direction="output"}')).toBe(usage.outputTokens);
    expect(value(text, 'switchyard_cost_usd_total{agent="m",model="gpt-4o"}')).toBeCloseTo(usage.costUsd!);
    expect(value(text, 'switchyard_provider_rate_limited_total{agent="m"}')).toBe(1);
    expect(value(text, 'switchyard_queue_jobs{queue="agent.m",state="wait"}')).toBe(0);
    expect(value(text, 'switchyard_breaker_open{scope="openai/gpt-4o"}')).toBe(0);
    expect(text).toContain('# TYPE switchyard_step_duration_seconds histogram');
    expect(text).toContain('switchyard_process_cpu_user_seconds_total');
  });
});

describe('a worker process without the API', () => {
  it('serves its metrics on SWITCHYARD_METRICS_PORT', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const prefix = testPrefix('metrics-worker');
    const child = spawn(process.execPath, nodeArgs('workers/main.ts'), {
      env: { ...process.env, REDIS_URL, SWITCHYARD_PREFIX: prefix, SWITCHYARD_METRICS_PORT: String(port), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const text = await poll(
        'the worker’s metrics',
        () =>
          fetch(`http://127.0.0.1:${port}/metrics`).then(
            (res) => (res.ok ? res.text() : ''),
            () => '',
          ),
        (t) => t.includes('switchyard_queue_jobs'),
        { timeoutMs: 45_000, intervalMs: 200 },
      );
      expect(text).toContain('# TYPE switchyard_step_duration_seconds histogram');
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      // What the worker process wrote (queues, schedules, heartbeats) goes with it.
      const redis = newRedis();
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
  }, 60_000);
});
