/**
 * A Redis server of a measurement's own (no other client, no persistence) on a free loopback
 * port: its `INFO cpu` and `INFO commandstats` count only what the measurement sends. Started
 * by the bench and stopped by its PID (never any other Redis).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export interface OwnRedis {
  url: string;
  pid: number;
  /** SIGTERM by PID, and wait until it has exited. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Servers still running, killed by PID if the bench exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--slowlog-max-len', '200000'], {
    stdio: 'ignore',
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`redis-server on port ${port} exited at start (${child.exitCode ?? child.signalCode})`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      const pid = /process_id:(\d+)/.exec(await probe.info('server'))?.[1];
      probe.disconnect();
      if (pid !== String(child.pid)) {
        await stop();
        throw new Error(`another redis-server (pid ${pid}) answers on port ${port}`);
      }
      return { url, pid: child.pid!, stop };
    } catch (err) {
      probe.disconnect();
      if ((err as Error).message.startsWith('another')) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  throw new Error(`redis-server on port ${port} did not start`);
}
