/** `npm run simulate` as a process: a bad flag or config exits 2 with one line; good flags serve until SIGTERM. */
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseFlags } from '../../src/simulator/flags.js';
import { nodeArgs } from '../helpers/node-entry.js';

const cli = (args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [...nodeArgs('src/cli/simulate.ts'), ...args], (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });

let dir: string | undefined;
// Both processes start at once (each loads TypeScript for a second or two); the tests read them.
let badFlag: ReturnType<typeof cli>;
let server: ChildProcessByStdio<null, Readable, Readable>;
let firstLine: Promise<string>;
beforeAll(() => {
  badFlag = cli(['--port', '4010', '--bogus']);
  server = spawn(process.execPath, [...nodeArgs('src/cli/simulate.ts'), '--port', '0', '--seed', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
  firstLine = once(server.stdout, 'data').then(([line]) => String(line));
});
afterAll(async () => {
  if (server.exitCode === null && server.signalCode === null) {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('exits 2 with one line naming a bad flag', async () => {
  const unknown = await badFlag;
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toBe("simulate: Unknown option '--bogus' (see --help)\n");
  // The other problems, in process: one line each.
  expect(parseFlags(['--latency', 'slow'])).toEqual({
    error: '--latency: "slow" is not a distribution: write 200, normal:P50:P99 or lognormal:P50:P99 (P99 ≥ P50 > 0)',
  });
  expect(parseFlags(['--rpm', 'many'])).toEqual({ error: '--rpm: expected a number, got "many"' });
});

it('reads a YAML config under its flags, and names the field of a bad one', async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sim-'));
  const file = path.join(dir, 'sim.yaml');
  await writeFile(file, 'port: 0\nrpm: 600\nlatencyMs: lognormal:200:1500\nerrors:\n  rateLimit: 0.05\n');
  const parsed = parseFlags(['--config', file, '--rpm', '60']);
  expect(parsed).toMatchObject({
    config: { port: 0, rpm: 60, latencyMs: { type: 'lognormal', p50: 200, p99: 1500 }, errors: { rateLimit: 0.05, server: 0 } },
  });
  await writeFile(file, 'errors:\n  rateLimit: 2\n');
  expect(parseFlags(['--config', file])).toEqual({ error: `${file}: errors.rateLimit: Too big: expected number to be <=1` });
  expect(parseFlags(['--tpm', '1.5'])).toEqual({ error: '--tpm: Invalid input: expected int, received number' });
});

it('serves on the port asked (0: any), says where in one line, and stops on SIGTERM', async () => {
  const line = await firstLine;
  expect(line).toMatch(/^LLM simulator on http:\/\/127\.0\.0\.1:\d+: .*no rate limits; seed 5; counters at .*\/stats\n$/);
  const url = /on (http:\/\/127\.0\.0\.1:\d+):/.exec(line)?.[1];
  expect((await fetch(`${url}/health`)).status).toBe(200);
  server.kill('SIGTERM');
  const [code] = await once(server, 'exit');
  expect(code).toBe(0);
});
