/**
 * Worker processes for tests (test/fixtures/worker-process.ts, see node-entry.ts): started and
 * waited for until READY, stopped gracefully (SIGTERM), or killed (SIGKILL) to test recovery.
 * `stopAll()` in afterAll makes sure none outlives its test file.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { REDIS_URL } from './redis.js';
import { nodeArgs } from './node-entry.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const WORKER_SCRIPT = path.join(ROOT, 'test', 'fixtures', 'worker-process.ts');

export interface WorkerProcessOptions {
  prefix: string;
  /** The Redis to join (default the shared test Redis). */
  redisUrl?: string;
  /** The `agents:` map (the same agents as the test process). */
  agents: Record<string, Record<string, unknown>>;
  /** How long finished runs stay in Redis (default 3600 s). */
  retentionSeconds?: number;
  /** The `providers:` map (limits, breakers), as the test process has it. */
  providers?: Record<string, unknown>;
  /** Serve only these agents (all by default). */
  serve?: string[];
  /** Run the internal workers too (default true). */
  internal?: boolean;
  /** The fake LLM server's base URLs. */
  fake?: { openaiBaseURL: string; anthropicBaseURL: string };
  /** BullMQ lock / stalled-check timing of its step workers, ms. */
  stalled?: { lockDuration: number; stalledInterval: number };
  /** How often it says it is alive, ms (default 5000). */
  heartbeatMs?: number;
  /** SWITCHYARD_SECRETS_KEY (to open the keys of workspace agents). */
  secretsKey?: string;
  /** More environment (a cluster's nodes, its cells: see test/fixtures/worker-process.ts). */
  env?: Record<string, string>;
}

export interface WorkerProcess {
  proc: ChildProcessWithoutNullStreams;
  stderr(): string;
  /** SIGTERM, wait for a graceful exit (SIGKILL as a last resort). */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
}

const running = new Set<WorkerProcess>();

export async function startWorkerProcess(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  let stderr = '';
  const proc = spawn(process.execPath, nodeArgs(WORKER_SCRIPT), {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: opts.redisUrl ?? REDIS_URL,
      SWITCHYARD_PREFIX: opts.prefix,
      ...(opts.fake ? { OPENAI_BASE_URL: opts.fake.openaiBaseURL, ANTHROPIC_BASE_URL: opts.fake.anthropicBaseURL } : {}),
      WORKER_AGENTS: JSON.stringify(opts.agents),
      ...(opts.providers ? { WORKER_PROVIDERS: JSON.stringify(opts.providers) } : {}),
      ...(opts.retentionSeconds ? { WORKER_RETENTION_SECONDS: String(opts.retentionSeconds) } : {}),
      ...(opts.serve ? { WORKER_SERVE: opts.serve.join(',') } : {}),
      ...(opts.internal === false ? { WORKER_INTERNAL: 'false' } : {}),
      ...(opts.stalled ? { WORKER_STALLED: JSON.stringify(opts.stalled) } : {}),
      ...(opts.heartbeatMs ? { SWITCHYARD_HEARTBEAT_MS: String(opts.heartbeatMs) } : {}),
      ...(opts.secretsKey ? { SWITCHYARD_SECRETS_KEY: opts.secretsKey } : {}),
      ...opts.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d: string) => (stderr += d));
  proc.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL'); // never leave a half-started worker behind
      reject(new Error(`worker process not READY in 20 s; stderr:\n${stderr}`));
    }, 20_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`worker process exited (${code}) before READY; stderr:\n${stderr}`));
    };
    proc.once('exit', onExit);
    proc.stdout.on('data', function onData(d: string) {
      out += d;
      if (out.includes('READY\n')) {
        clearTimeout(timer);
        proc.off('exit', onExit);
        proc.stdout.off('data', onData);
        proc.stdout.resume();
        resolve();
      }
    });
  });
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  const handle: WorkerProcess = {
    proc,
    stderr: () => stderr,
    async stop() {
      running.delete(handle);
      if (exited()) return { code: proc.exitCode, signal: proc.signalCode };
      const done = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const [code, signal] = await done;
      clearTimeout(timer);
      return { code, signal };
    },
    async kill() {
      running.delete(handle);
      if (exited()) return;
      const done = once(proc, 'exit');
      proc.kill('SIGKILL');
      await done;
    },
  };
  running.add(handle);
  return handle;
}

/** Kill every worker process a test left running (afterAll). */
export async function killAllWorkerProcesses(): Promise<void> {
  await Promise.all([...running].map((w) => w.kill()));
}
