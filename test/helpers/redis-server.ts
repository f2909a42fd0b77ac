/**
 * A Redis server of a test's own, on a free loopback port, that the test may stop and start
 * again (an outage), with AOF in a temporary directory so its data survives a restart (or no
 * persistence: a bench's measurement of what it alone sends). Stopped by PID; never the shared
 * Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface OwnRedis {
  url: string;
  port: number;
  /** Start again (after stop) on the same port and data directory; resolves once it answers. */
  start(): Promise<void>;
  /** SIGTERM (AOF flushed), and wait until it has exited. */
  stop(): Promise<void>;
  /** Stop it and remove its data. */
  destroy(): Promise<void>;
  /** The running server's process id. */
  pid(): number | undefined;
}

export interface OwnRedisOptions {
  /** AOF with fsync on every write, so data survives a restart (default); false: nothing kept on disk. */
  aof?: boolean;
  /** More redis-server arguments (e.g. `--slowlog-max-len 200000`). */
  args?: readonly string[];
}

/** Servers still running, killed when the test process exits whatever happened (a hook that timed out). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export async function ownRedis({ aof = true, args = [] }: OwnRedisOptions = {}): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sy-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  const handle: OwnRedis = {
    url,
    port,
    async start() {
      if (proc && proc.exitCode === null && proc.signalCode === null) throw new Error(`redis-server on port ${port} is running already`);
      const child = spawn(
        'redis-server',
        [
          ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''],
          ...(aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
          ...args,
        ],
        { stdio: 'ignore' },
      );
      proc = child;
      running.add(child);
      child.once('exit', () => running.delete(child));
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      for (let i = 0; i < 100; i++) {
        // One that exited (its port taken) must not pass for started: another server answers there.
        if (child.exitCode !== null || child.signalCode !== null) {
          probe.disconnect();
          throw new Error(`redis-server on port ${port} exited at start (${child.exitCode ?? child.signalCode}): is the port taken?`);
        }
        let pid: string | undefined;
        try {
          await probe.connect();
          const info = await probe.info();
          pid = /process_id:(\d+)/.exec(info)?.[1];
          probe.disconnect();
          // Still loading its AOF: not ready.
          if (!/^loading:0\r?$/m.test(info)) throw new Error('loading');
        } catch {
          probe.disconnect();
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        if (pid === String(child.pid)) return;
        child.kill('SIGKILL');
        throw new Error(`another redis-server (pid ${pid}) answers on port ${port}`);
      }
      throw new Error(`redis-server on port ${port} did not start`);
    },
    async stop() {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
    },
    async destroy() {
      await handle.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    pid: () => proc?.pid,
  };
  await handle.start();
  return handle;
}
