/**
 * (f) `POST /v1/runs` throughput under load. Switchyard: the real API process
 * (`src/main.ts --api-only`), agent tasks. Raw: a minimal express + `queue.add` server
 * (bench/lib/raw-http-server.ts). Each server runs in its own process; autocannon, in this
 * one, drives both with the same connections and duration, in alternating rounds. No worker
 * runs on either side: the figure is accepting and enqueueing. Target: Switchyard requests/s
 * ≥ 0.5 × raw.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { REDIS_URL, benchPrefix, cleanupPrefix } from '../lib/redis.js';
import { fmt, median } from '../lib/util.js';
import type { BenchContext, Scenario, ScenarioResult } from './types.js';

const CONNECTIONS = 32;

interface Server {
  url: string;
  child: ChildProcess;
}

/** Start `args` under node + tsx and wait for the line that gives its port (or for /healthz). */
async function startServer(args: string[], env: Record<string, string>, healthPath?: string): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server ${args.join(' ')} exited ${child.exitCode}: ${out.slice(-2000)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server ${args.join(' ')} did not start: ${out.slice(-2000)}`);
    }
    if (healthPath) {
      const ok = await fetch(`http://127.0.0.1:${env.PORT}${healthPath}`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return { url: `http://127.0.0.1:${env.PORT}`, child };
    } else {
      const m = out.match(/listening (\d+)/);
      if (m) return { url: `http://127.0.0.1:${m[1]}`, child };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function load(url: string, body: unknown, seconds: number): Promise<{ rps: number; non2xx: number; errors: number; p50: number; p99: number }> {
  const r = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    connections: CONNECTIONS,
    duration: seconds,
  });
  return { rps: r.requests.average, non2xx: r.non2xx, errors: r.errors + r.timeouts, p50: r.latency.p50, p99: r.latency.p99 };
}

export const httpScenario: Scenario = {
  id: 'f',
  title: 'POST /v1/runs throughput',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const seconds = ctx.quick ? 2 : 5;
    const rounds = Math.max(3, Math.min(ctx.reps, 5));
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-http-'));
    mkdirSync(join(dir, 'flows'));
    writeFileSync(join(dir, 'agents.yaml'), 'agents:\n  one:\n    provider: echo\n    concurrency: 50\n    attempts: 1\n');
    const syPrefix = benchPrefix('sy-http');
    const rawPrefix = benchPrefix('raw-http');
    const syPort = await freePort();
    let sy: Server | undefined;
    let raw: Server | undefined;
    try {
      sy = await startServer(
        ['src/main.ts', '--api-only'],
        {
          REDIS_URL,
          PORT: String(syPort),
          SWITCHYARD_PREFIX: syPrefix,
          SWITCHYARD_AGENTS: join(dir, 'agents.yaml'),
          SWITCHYARD_FLOWS: join(dir, 'flows'),
          LOG_LEVEL: 'warn',
          // The workspace's request rate is checked on every request (its cost is measured) but set
          // far above what one machine sends, so no request is refused: (f) measures throughput.
          SWITCHYARD_API_RATE_PER_WORKSPACE: '1000000',
        },
        '/healthz',
      );
      raw = await startServer(['bench/lib/raw-http-server.ts'], { REDIS_URL, BENCH_PREFIX: rawPrefix, PORT: '0' });
      const syBody = { agent: 'one', input: { task: 'hello' } };
      const rawBody = { task: 'hello' };
      ctx.log('  warm-up');
      await load(`${sy.url}/v1/runs`, syBody, 2);
      await load(`${raw.url}/jobs`, rawBody, 2);
      const s: Awaited<ReturnType<typeof load>>[] = [];
      const r: Awaited<ReturnType<typeof load>>[] = [];
      for (let i = 0; i < rounds; i++) {
        if (i % 2 === 0) {
          s.push(await load(`${sy.url}/v1/runs`, syBody, seconds));
          r.push(await load(`${raw.url}/jobs`, rawBody, seconds));
        } else {
          r.push(await load(`${raw.url}/jobs`, rawBody, seconds));
          s.push(await load(`${sy.url}/v1/runs`, syBody, seconds));
        }
        ctx.log(`  round ${i + 1}/${rounds} done`);
      }
      const syRps = median(s.map((x) => x.rps));
      const rawRps = median(r.map((x) => x.rps));
      const ratio = syRps / rawRps;
      const bad = [...s, ...r].reduce((n, x) => n + x.non2xx + x.errors, 0);
      const pass = ratio >= 0.5 && bad === 0;
      return {
        id: 'f',
        title: `POST /v1/runs under load (autocannon, ${CONNECTIONS} connections, ${seconds} s rounds): requests per second`,
        switchyard: `${fmt(syRps, 0)} req/s`,
        baseline: `${fmt(rawRps, 0)} req/s (express + queue.add)`,
        ratio,
        target: '≥ 0.5',
        pass,
        details: [
          `sizes: ${rounds} alternating rounds of ${seconds} s per side after a 2 s warm-up each; each server in its own process (Switchyard: src/main.ts --api-only, LOG_LEVEL=warn; raw: bench/lib/raw-http-server.ts), no workers on either side`,
          `Switchyard req/s per round: ${s.map((x) => x.rps.toFixed(0)).join(', ')}; latency p50/p99 (median of rounds) ${median(s.map((x) => x.p50))} / ${median(s.map((x) => x.p99))} ms`,
          `raw req/s per round: ${r.map((x) => x.rps.toFixed(0)).join(', ')}; latency p50/p99 ${median(r.map((x) => x.p50))} / ${median(r.map((x) => x.p99))} ms`,
          `answers other than 2xx, errors and timeouts: ${bad}${bad ? ' (a failing round fails the target)' : ''}`,
        ],
      };
    } finally {
      if (sy) await stopServer(sy);
      if (raw) await stopServer(raw);
      rmSync(dir, { recursive: true, force: true });
      await cleanupPrefix(syPrefix);
      await cleanupPrefix(rawPrefix);
    }
  },
};
