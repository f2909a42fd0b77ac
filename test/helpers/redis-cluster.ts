/**
 * A Redis Cluster of a test's own: three masters (no replicas) on free loopback ports, each a
 * `redis-server --cluster-enabled yes` spawned here with its nodes file in a temporary
 * directory and no persistence, joined with `redis-cli --cluster create`. Stopped by PID and its
 * directory removed; never the shared Redis.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface OwnCluster {
  nodes: { host: string; port: number }[];
  /** `host:port,...` (REDIS_CLUSTER_NODES). */
  spec: string;
  /** Which node (port) serves `key`'s slot, and the slot. */
  whereIs(key: string): Promise<{ slot: number; port: number }>;
  /** Stop every node (SIGKILL: nothing to keep) and remove the directory. */
  destroy(): Promise<void>;
}

/** Why a cluster cannot be started here (redis-server or redis-cli missing), or undefined. */
export function clusterUnavailable(): string | undefined {
  for (const bin of ['redis-server', 'redis-cli']) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return `${bin} cannot be run here (${r.error?.message ?? `exit ${r.status}`})`;
  }
  return undefined;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** `count` ports free with their cluster bus ports (port + 10000). */
async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count && tries < 200; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (!ports.includes(port) && (await isFree(port)) && (await isFree(port + 10_000))) ports.push(port);
  }
  if (ports.length < count) throw new Error('no free loopback ports for a cluster');
  return ports;
}

async function answers(port: number, check: (r: Redis) => Promise<boolean>, what: string): Promise<void> {
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    for (let i = 0; i < 200; i++) {
      try {
        if (probe.status !== 'ready') await probe.connect();
        if (await check(probe)) return;
      } catch {
        probe.disconnect();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server on port ${port}: ${what} not reached`);
  } finally {
    probe.disconnect();
  }
}

export async function ownCluster(size = 3): Promise<OwnCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-cluster-'));
  const ports = await freePorts(size);
  const procs = ports.map((port) => {
    const child = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes'],
        ...['--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      ],
      { stdio: 'ignore' },
    );
    running.add(child);
    child.once('exit', () => running.delete(child));
    return child;
  });
  const destroy = async () => {
    await Promise.all(
      procs.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const exited = once(p, 'exit');
        p.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map((port) => answers(port, async (r) => (await r.ping()) === 'PONG', 'PONG')));
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
    await Promise.all(ports.map((port) => answers(port, async (r) => /cluster_state:ok/.test(String(await r.call('CLUSTER', 'INFO'))), 'cluster_state:ok')));
  } catch (err) {
    await destroy();
    throw err;
  }
  const nodes = ports.map((port) => ({ host: '127.0.0.1', port }));
  return {
    nodes,
    spec: nodes.map((n) => `${n.host}:${n.port}`).join(','),
    async whereIs(key) {
      const probe = new Redis({ port: ports[0], host: '127.0.0.1', maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined); // a failed command says why
      try {
        const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', key));
        const shards = (await probe.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
        const shard = shards.find(([from, to]) => slot >= from && slot <= to);
        if (!shard) throw new Error(`no node serves slot ${slot}`);
        return { slot, port: shard[2][1] };
      } finally {
        probe.disconnect();
      }
    },
    destroy,
  };
}
