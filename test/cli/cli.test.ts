/**
 * The `switchyard` command, spawned as a user runs it (bin/switchyard.js), against a live
 * server started here: real Redis, BullMQ workers, the real Anthropic SDK against the fake LLM
 * server (tokens and a price, so each step has a cost). `run --wait` prints a line per step as
 * it changes and exits 0 or 1 by how the run ended; `validate` names file:line:col; `runs list
 * --json` is the API's page; a gate is approved from the CLI; an unreachable server exits 69
 * with one line. Independent cases run side by side to keep the file short.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'switchyard.js');

const agents = { writer: { provider: 'anthropic', model: 'claude-cli-test' } };
const pricing = { 'claude-cli-test': { inputPerMTok: 3, outputPerMTok: 15 } };
const step = (id: string, dependsOn: string[] = []) => ({ id, agent: 'writer', dependsOn, input: { task: `${id}: {{ input.topic }}` } });
const diamond = {
  name: 'cli-diamond',
  input: { topic: { type: 'string' } },
  steps: [step('plan'), step('left', ['plan']), step('right', ['plan']), step('join', ['left', 'right'])],
};
const gated = {
  name: 'cli-gated',
  steps: [
    { id: 'draft', agent: 'writer', input: { task: 'draft' } },
    { id: 'review', kind: 'approval', dependsOn: ['draft'] },
  ],
};

let fake: FakeLlmServer;
let h: Harness;
let dir: string;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `switchyard <args>` against the test server (or the environment given). */
function cli(args: string[], env: Record<string, string> = { SWITCHYARD_URL: h.baseUrl }): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, SWITCHYARD_URL: '', SWITCHYARD_KEY: '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

/** A loopback port nothing listens on now. */
async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({ name: 'cli', agents, pricing, workflows: [diamond, gated], fake });
  dir = await mkdtemp(path.join(tmpdir(), 'switchyard-cli-'));
}, 30_000);

afterAll(async () => {
  await h?.close();
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  assertAllClosed();
});

describe.concurrent('the switchyard command', () => {
  it('run --wait shows a line per step as it changes, prints the output, and exits 0 when the run succeeded', async () => {
    const { code, stdout, stderr } = await cli(['run', 'cli-diamond', '--input', '{"topic":"queues"}', '--wait']);
    expect(stderr).toMatch(/^run_\w+ queued: cli-diamond/);
    for (const id of ['plan', 'left', 'right', 'join']) {
      expect(stderr).toMatch(new RegExp(`▶ ${id} +running`));
      expect(stderr).toMatch(new RegExp(`✓ ${id} +succeeded +\\d+\\.\\d+s +\\d+ tokens +\\$0\\.\\d{4}`));
    }
    // join starts only once left and right have succeeded: the lines come as things change.
    expect(stderr.indexOf('▶ join')).toBeGreaterThan(Math.max(stderr.indexOf('✓ left'), stderr.indexOf('✓ right')));
    expect(stderr).toMatch(/succeeded in \d+\.\d+s · 4 steps · \d+ tokens · \$0\.\d{4}/);
    expect(stdout).toContain('fake claude-cli-test: join: queues');
    expect(code).toBe(0);
  });

  it('run file.yaml --wait sends the workflow inline, shows the failed step with its error, and exits 1 when the run failed', async () => {
    const file = path.join(dir, 'failing.yaml');
    await writeFile(file, 'name: cli-failing\nsteps:\n  - id: only\n    agent: writer\n    input:\n      task: "[[status:400]] refuse"\n');
    const { code, stdout, stderr } = await cli(['run', file, '--wait']);
    expect(stderr).toMatch(/✗ only +failed/);
    expect(stderr).toMatch(/^failed in .* · 1 step/m);
    expect(stdout).toBe('');
    expect(code).toBe(1);
  });

  it('validate names the file, line and column of each problem and exits 1; a valid file is ok', async () => {
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'name: bad\nsteps:\n  - id: a\n    agent: wizard\n    input: { task: hi }\n');
    const good = path.join(ROOT, 'flows', 'pr-review.yaml');
    const { code, stdout, stderr } = await cli(['validate', good, bad]);
    expect(stdout).toBe(`${good}: ok (workflow "pr-review", 4 steps)\n`);
    expect(stderr).toMatch(new RegExp(`^${bad}:4:12: steps\\[0\\]\\.agent: unknown agent "wizard"`));
    expect(code).toBe(1);
  });

  it('exits 69 with one line when the server cannot be reached', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const { code, stdout, stderr } = await cli(['--url', url, 'runs', 'list']);
    expect(stderr).toBe(`switchyard: cannot reach ${url}: ECONNREFUSED\n`);
    expect(stdout).toBe('');
    expect(code).toBe(69);
  });

  it('approves a waiting gate from the command line, and the run finishes', async () => {
    const created = await h.request('POST', '/v1/runs', { workflow: 'cli-gated' });
    const id = created.body.id as string;
    await h.waitUntil(id, (r) => r.steps.some((s) => s.stepId === 'review' && s.status === 'waiting'));
    const { code, stdout } = await cli(['runs', 'approve', id, 'review', '--comment', 'ship it', '--by', 'ana']);
    expect(stdout).toBe(`approved review of ${id} (by ana)\n`);
    expect(code).toBe(0);
    const run = await h.waitForRun(id);
    expect(run.status).toBe('succeeded');
    expect(run.steps.find((s) => s.stepId === 'review')?.output).toMatchObject({ approved: true, by: 'ana', comment: 'ship it' });
  });
});

describe('runs list --json', () => {
  it('prints the API page as JSON, newest first', async () => {
    const first = (await h.request('POST', '/v1/runs', { workflow: 'cli-diamond', input: { topic: 'one' } })).body.id as string;
    const second = (await h.request('POST', '/v1/runs', { workflow: 'cli-diamond', input: { topic: 'two' } })).body.id as string;
    const { code, stdout } = await cli(['runs', 'list', '--json', '--workflow', 'cli-diamond', '--limit', '2']);
    expect(code).toBe(0);
    const page = JSON.parse(stdout);
    expect(page.runs.map((r: { id: string }) => r.id)).toEqual([second, first]);
    expect(page.runs[0]).toMatchObject({ workflow: 'cli-diamond', usage: expect.any(Object) });
    expect(page).toHaveProperty('nextCursor');
  });
});
