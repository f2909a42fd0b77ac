/**
 * `switchyard dev`, spawned as a user runs it: the API and the workers in one process, on the
 * real Redis. A workflow added to flows/ while a step is in flight is served after the restart,
 * and the in-flight run still succeeds (its step finished before the old system stopped); a
 * broken file is reported and the running system kept; Ctrl-C (SIGINT) stops it with exit 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poll } from '../helpers/poll.js';
import { REDIS_URL, cleanupPrefix, newRedis, testPrefix } from '../helpers/redis.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const flow = (name: string) => `name: ${name}\nsteps:\n  - id: only\n    agent: slow\n    input:\n      task: ${name}\n`;

let dir: string;
let proc: ChildProcess | undefined;
let logs = '';
let base: string;
const prefix = testPrefix('cli-dev');

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

const get = (p: string) => fetch(`${base}${p}`).then(async (r) => ({ status: r.status, body: (await r.json().catch(() => null)) as any }));

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'switchyard-dev-'));
  await mkdir(path.join(dir, 'flows'));
  await writeFile(path.join(dir, 'agents.yaml'), 'agents:\n  slow:\n    provider: echo\n    echo: { latencyMs: 1500 }\n');
  await writeFile(path.join(dir, 'flows', 'one.yaml'), flow('one'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  proc = spawn(process.execPath, [path.join(ROOT, 'bin', 'switchyard.js'), 'dev'], {
    cwd: dir,
    env: { ...process.env, PORT: String(port), REDIS_URL, SWITCHYARD_PREFIX: prefix, SWITCHYARD_AGENTS: 'agents.yaml', SWITCHYARD_FLOWS: 'flows' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  await poll(
    'switchyard dev to be ready',
    () =>
      get('/readyz').then(
        (r) => r.status,
        () => 0,
      ),
    (s) => s === 200,
    { timeoutMs: 25_000 },
  );
}, 30_000);

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    proc.kill('SIGKILL');
    await once(proc, 'exit');
  }
  const redis = newRedis();
  await cleanupPrefix(redis, prefix);
  await redis.quit();
  await rm(dir, { recursive: true, force: true });
});

describe('switchyard dev', () => {
  it('serves a workflow added while a step runs, and the run in flight still succeeds', async () => {
    const created = await fetch(`${base}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'one' }),
    });
    const { id } = (await created.json()) as { id: string };
    await poll(
      'the step to start',
      () => get(`/v1/runs/${id}`),
      (r) => r.body?.steps?.[0]?.status === 'running',
      { timeoutMs: 10_000 },
    );
    await writeFile(path.join(dir, 'flows', 'two.yaml'), flow('two'));
    await poll(
      'the new workflow to be served',
      () =>
        get('/v1/workflows/two').then(
          (r) => r.status,
          () => 0,
        ),
      (s) => s === 200,
      { timeoutMs: 25_000 },
    );
    expect(logs).toContain('definitions changed: restarting');
    const run = await poll(
      'the run to finish',
      () => get(`/v1/runs/${id}`).catch(() => undefined),
      (r) => r?.body?.finishedAt != null,
      { timeoutMs: 15_000 },
    );
    expect(run?.body).toMatchObject({ status: 'succeeded', output: '[slow] one' });
  });

  it('keeps the running system when a change does not load, then stops on SIGINT with exit 0', async () => {
    await writeFile(path.join(dir, 'flows', 'three.yaml'), 'name: three\nsteps:\n  - id: a\n    agent: nobody\n    input: { task: x }\n');
    await poll(
      'the broken file to be reported',
      () => logs,
      (l) => l.includes('not reloaded, the running version is kept'),
      { timeoutMs: 10_000 },
    );
    expect(logs).toContain('flows/three.yaml: invalid workflow (1 problem):\n  - line 4, column 12, steps[0].agent: unknown agent "nobody"');
    expect((await get('/v1/workflows/two')).status).toBe(200);
    const exited = once(proc!, 'exit') as Promise<[number | null]>;
    proc!.kill('SIGINT');
    const [code] = await exited;
    expect(code).toBe(0);
  });
});
