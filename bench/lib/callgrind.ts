/**
 * A Redis of a probe's own under valgrind's callgrind, and the instructions it executes over a
 * piece of work: a measure the machine's load does not move, as CPU time and SLOWLOG's wall
 * time are moved on a shared VM. About 50 times slower than Redis alone. Stopped by its PID;
 * its dumps are deleted with it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { Redis } from 'ioredis';

export interface CallgrindRedis {
  url: string;
  pid: number;
  out: string;
  destroy(): Promise<void>;
}

/** A redis-server under callgrind on a free port (its dumps in a temporary folder). */
export async function callgrindRedis(): Promise<CallgrindRedis> {
  const port = 47000 + Math.floor(Math.random() * 2000);
  const out = `/tmp/probe-callgrind-${port}`;
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', `--callgrind-out-file=${out}.%p`, 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (;;) {
    const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => undefined);
    const up = await r.connect().then(
      () => r.ping(),
      () => undefined,
    );
    r.disconnect();
    if (up) break;
    await new Promise((res) => setTimeout(res, 300));
  }
  return {
    url,
    pid: child.pid!,
    out,
    async destroy() {
      child.kill('SIGTERM');
      await new Promise((res) => child.once('exit', res));
      for (const f of readdirSync('/tmp').filter((x) => x.startsWith(`probe-callgrind-${port}`))) rmSync(`/tmp/${f}`);
    },
  };
}

/** Redis' instructions over `work`: all of them, under evalShaCommand (scripts sent by SHA), and in sha1hex (EVAL's hashing of a source). */
export async function instructions(cg: CallgrindRedis, work: () => Promise<void>): Promise<{ all: number; evalsha: number; sha1hex: number }> {
  const ctl = (...a: string[]) => execFileSync('callgrind_control', [...a, String(cg.pid)], { stdio: 'pipe' });
  ctl('-z');
  await work();
  ctl('-d');
  const dumps = readdirSync('/tmp')
    .filter((f) => f.startsWith(`${cg.out.slice(5)}.${cg.pid}.`))
    .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const file = `/tmp/${dumps.at(-1)}`;
  const all = Number(/^totals: (\d+)/m.exec(readFileSync(file, 'utf8'))?.[1] ?? NaN);
  const annotated = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', file], { maxBuffer: 1 << 28 }).toString();
  const inclusive = (fn: string) => Number(new RegExp(`^\\s*([\\d,]+) .*:${fn} `, 'm').exec(annotated)?.[1]?.replace(/,/g, '') ?? 0);
  return { all, evalsha: inclusive('evalShaCommand'), sha1hex: inclusive('sha1hex') };
}
