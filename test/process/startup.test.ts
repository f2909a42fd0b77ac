/**
 * What a process does when what it needs is missing: a port already in use, a Redis that does
 * not answer at start-up (one clear line, a bounded wait, an exit code), and a Redis that goes
 * away while it runs (the API answers 503 at once, and nothing it gave up on runs later).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { REDIS_URL, cleanupPrefix, keysUnder, newRedis, testPrefix } from '../helpers/redis.js';
import { ownRedis, type OwnRedis } from '../helpers/redis-server.js';
import { nodeArgs } from '../helpers/node-entry.js';

/** Run `npm start`'s entry point with `env`; resolves with its exit code and output. */
async function runProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; out: string; ms: number }> {
  const t0 = Date.now();
  const child = spawn(process.execPath, nodeArgs('src/main.ts'), {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, out, ms: Date.now() - t0 };
}

/** A temporary agents file of these agents (one `name: {...}` line each) beside an empty flows/ folder; remove `dir` after. */
function agentsFile(agents: string[]): { dir: string; flows: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sy-agents-'));
  const flows = join(dir, 'flows');
  mkdirSync(flows);
  const file = join(dir, 'agents.yaml');
  writeFileSync(file, ['agents:', ...agents.map((a) => `  ${a}`)].join('\n'));
  return { dir, flows, file };
}

/** Delete what a child process wrote under `prefix`. */
async function cleanup(prefix: string): Promise<void> {
  const redis = newRedis();
  await cleanupPrefix(redis, prefix);
  await redis.quit();
}

describe('start-up', () => {
  it('stops with one clear line and exit code 69 when its port is taken, before it takes any job', async () => {
    const taken: Server = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as { port: number }).port;
    const prefix = testPrefix('port');
    try {
      const res = await runProcess({ REDIS_URL, SWITCHYARD_PREFIX: prefix, PORT: String(port) });
      expect(res.code).toBe(69);
      expect(res.out).toContain(`switchyard: port ${port} is already in use`);
      expect(res.out).not.toContain('switchyard started');
      expect(res.out).not.toContain('worker pools started');
      // It checked the port before touching Redis: no schedule, no queue meta, nothing.
      expect(await keysUnder(prefix)).toEqual([]);
    } finally {
      taken.close();
      await cleanup(prefix);
    }
  });

  it('says once where it tries to reach Redis, retries, and exits 69 after SWITCHYARD_REDIS_WAIT_MS', async () => {
    const res = await runProcess({ REDIS_URL: 'redis://user:hunter2@127.0.0.1:1', SWITCHYARD_REDIS_WAIT_MS: '1500', PORT: '0' });
    expect(res.code).toBe(69);
    expect(res.ms).toBeLessThan(15_000);
    const lines = res.out.trim().split('\n');
    expect(lines.filter((l) => l.includes('does not answer'))).toHaveLength(1);
    expect(res.out).toContain('switchyard: Redis at redis://user:***@127.0.0.1:1 did not answer within 1500 ms (SWITCHYARD_REDIS_WAIT_MS)');
    expect(res.out).not.toContain('hunter2');
    expect(res.out).not.toContain('Unhandled error');
    expect(res.out).not.toMatch(/\n\s+at /); // no stack trace
    // Beside one line per keyless agent (it uses echo), a few lines: no storm of retries.
    expect(lines.filter((l) => !l.includes('uses the echo provider')).length).toBeLessThan(4);
  });
});

describe('the start-up summary', () => {
  it('says in one line what listens where, which agents are live and which use echo, where results go and the mode of credentials', async () => {
    const { dir, flows, file } = agentsFile(['live: { provider: openai, model: gpt-4o-mini }', 'keyless: { provider: anthropic, model: claude-haiku-4-5 }']);
    const prefix = testPrefix('summary');
    const child = spawn(process.execPath, nodeArgs('src/main.ts'), {
      env: {
        ...process.env,
        LOG_LEVEL: 'info',
        REDIS_URL,
        SWITCHYARD_PREFIX: prefix,
        PORT: '0',
        SWITCHYARD_AGENTS: file,
        SWITCHYARD_FLOWS: flows,
        OPENAI_API_KEY: 'k',
        ANTHROPIC_API_KEY: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const deadline = Date.now() + 30_000;
      while (!out.includes('switchyard started') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const lines = out.split('\n').filter((l) => l.includes('switchyard started'));
      expect(lines).toHaveLength(1);
      const summary = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(summary).toMatchObject({
        api: expect.stringMatching(/^http:\/\/localhost:[1-9]\d*$/),
        board: expect.stringMatching(/\/admin\/queues$/),
        workers: 'every agent',
        live: ['live (openai/gpt-4o-mini)'],
        echo: ['keyless'],
        results: expect.stringContaining('Redis only'),
        credentials: 'OPEN (development mode)',
      });
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
      await cleanup(prefix);
    }
  });
});

describe('start-up warnings', () => {
  it('warns once for each agent whose model or fallback has no price (a cost budget cannot hold on it)', async () => {
    const { dir, flows, file } = agentsFile([
      'priced: { provider: anthropic, model: claude-haiku-4-5, fallback: [{ provider: openai, model: house-model-2 }] }',
      'unpriced: { provider: openai, model: house-model-1 }',
      'offline: { provider: echo }',
    ]);
    try {
      // Redis does not answer: the process stops after its start-up checks.
      const res = await runProcess({
        REDIS_URL: 'redis://127.0.0.1:1',
        SWITCHYARD_REDIS_WAIT_MS: '500',
        PORT: '0',
        SWITCHYARD_AGENTS: file,
        SWITCHYARD_FLOWS: flows,
        ANTHROPIC_API_KEY: 'k',
        OPENAI_API_KEY: 'k',
      });
      expect(res.code).toBe(69);
      const warned = res.out.split('\n').filter((l) => l.includes('no price for model'));
      expect(warned).toHaveLength(2);
      expect(warned.find((l) => l.includes('agent \\"priced\\"'))).toContain('house-model-2');
      expect(warned.find((l) => l.includes('agent \\"unpriced\\"'))).toContain('house-model-1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a Redis outage while running', () => {
  let redis: OwnRedis;
  let h: Harness;

  afterAll(async () => {
    try {
      await h?.close().catch(() => undefined);
    } finally {
      await redis?.destroy();
    }
    assertAllClosed();
  });

  it('answers 503 within a second or two, and runs nothing it answered 503 to once Redis is back', async () => {
    redis = await ownRedis();
    h = await startHarness({ name: 'outage', agents: { a: { provider: 'echo' } }, redisUrl: redis.url });
    const before = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'before' } });
    expect(before.status).toBe(202);
    await h.waitForRun(before.body.id);

    await redis.stop();
    for (const [method, path, body] of [
      ['POST', '/v1/runs', { agent: 'a', input: { task: 'during the outage' }, idempotencyKey: 'outage-1' }],
      ['GET', '/readyz', undefined],
      ['GET', `/v1/runs/${before.body.id}`, undefined],
      ['GET', '/v1/runs', undefined],
    ] as const) {
      const t0 = Date.now();
      const res = await h.request(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(503);
      expect(Date.now() - t0, `${method} ${path}`).toBeLessThan(2_000);
      if (path === '/readyz') expect(res.body.checks.redis).toBe(false);
      else expect(res.body.error.message).toContain('Redis cannot be reached');
    }

    await redis.start();
    // The connections come back by themselves; what was refused was never run.
    await expect.poll(async () => (await h.request('GET', '/readyz')).status, { timeout: 10_000 }).toBe(200);
    const listed = await h.request('GET', '/v1/runs?include=input');
    expect(listed.body.runs.map((r: { input: { task: string } }) => r.input.task)).toEqual(['before']);
    // The same request again now runs (its idempotency key was never taken).
    const again = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'during the outage' }, idempotencyKey: 'outage-1' });
    expect(again.status).toBe(202);
    expect((await h.waitForRun(again.body.id, 15_000)).status).toBe('succeeded');
  }, 60_000);
});
