/**
 * Graceful shutdown of a real worker process: SIGTERM lets the in-flight step finish and the
 * run it ends be settled, then the process exits 0. The test process runs the API only, so
 * nothing else could settle the run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { REDIS_URL } from '../helpers/redis.js';
import { nodeArgs } from '../helpers/node-entry.js';

const agents = { slow: { provider: 'echo', echo: { latencyMs: 1500 }, attempts: 1 } };
let h: Harness;
let child: ChildProcess | undefined;
let dir: string;

beforeAll(async () => {
  // The API here; every worker (agent pool and run finaliser) in a separate process.
  h = await startHarness({ name: 'shutdown', agents, pools: false });
  dir = mkdtempSync(join(tmpdir(), 'sy-shutdown-'));
  writeFileSync(join(dir, 'agents.yaml'), `agents:\n  slow:\n    provider: echo\n    echo: { latencyMs: 1500 }\n    attempts: 1\n`);
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
  assertAllClosed();
});

it('lets the in-flight step finish on SIGTERM, then exits 0', async () => {
  child = spawn(process.execPath, [...nodeArgs('workers/main.ts'), '--agents', 'slow'], {
    env: {
      ...process.env,
      REDIS_URL,
      SWITCHYARD_PREFIX: h.prefix,
      SWITCHYARD_AGENTS: join(dir, 'agents.yaml'),
      SWITCHYARD_FLOWS: join(dir, 'flows'),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await expect.poll(() => out, { timeout: 20_000 }).toContain('worker pools started');

  const res = await h.request('POST', '/v1/runs', { agent: 'slow', input: { task: 'finish me' } });
  await h.waitUntil(res.body.id, (r) => r.steps[0]!.status === 'running');
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  expect(code).toBe(0);
  expect(out).toContain('shutting down');

  // The step finished in the exiting process, which settled its run before it exited.
  const run = await h.system.api.queries.get(h.system.scope(), res.body.id);
  expect(run.status).toBe('succeeded');
  expect(run.steps[0]).toMatchObject({ status: 'succeeded', output: '[slow] finish me', attempts: 1 });
});
