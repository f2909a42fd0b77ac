/**
 * Probe (not a bench scenario, no target): what each of Switchyard's scripts of a single-step run
 * costs Redis' main thread, alone. On a Redis of its own, one agent task is run and its scripts'
 * calls recorded (create-run, step-begin, step-complete with the run's finish); then each is sent
 * again for 2,000 new runs (the run id replaced), 64 in flight, one script at a time, with
 * `INFO cpu` (main thread) before and after each; and, for comparison, 2,000 plain `HSET`s of
 * the floor's shape (lib/durable.ts). Medians of the rounds. See docs/adr/005.
 *
 *   node --import tsx bench/probes/script-cost.ts [--rounds N] [--against <git rev>] [--noop]
 *
 * `--against <rev>`: each round also sends the same calls to the scripts as they were at that
 * revision (their Lua read from git, includes expanded), interleaved with today's, so that a
 * change is measured against its before in the same run (a script whose keys or arguments
 * changed since is left out). `--noop`: also a script that only returns, given the same keys
 * and arguments: what the call alone costs. `--callgrind`: Redis under valgrind's callgrind
 * (lib/callgrind.ts), each round's sends counted in Redis' instructions per call instead of CPU
 * time (300 runs a round, not 2,000: a count the machine's load does not move).
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { luaSource } from '../../src/store/scripts/script.js';
import { ownRedis } from '../../test/helpers/redis-server.js';
import { callgrindRedis, instructions } from '../lib/callgrind.js';
import { newRedis, redisMainThreadCpuSeconds } from '../lib/redis.js';
import { scriptNames } from '../lib/script-names.js';
import { echoAgent, startSwitchyard } from '../lib/switchyard.js';
import { median } from '../lib/util.js';
import { windowed } from '../scenarios/single.js';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    against: { type: 'string' },
    noop: { type: 'boolean', default: false },
    callgrind: { type: 'boolean', default: false },
  },
});
const N = opts.callgrind ? 300 : 2000;
const cg = opts.callgrind ? await callgrindRedis() : undefined;
const own = cg ? { url: cg.url, destroy: () => cg.destroy() } : await ownRedis({ aof: false, args: ['--slowlog-max-len', '200000'] });
const sy = await startSwitchyard({ name: 'cost', agents: { one: echoAgent(0, 50) }, workflows: [], redisUrl: own.url });
for (let i = 0; i < 3; i++) await sy.finished((await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: 'warm' })).id);

// Record the scripts of one run, as sent.
type Sent = { name: string; args: string[] };
const sent: Sent[] = [];
const names = scriptNames();
const proto = Redis.prototype as unknown as { sendCommand: (c: { name: string; args: unknown[] }, ...r: unknown[]) => unknown };
const orig = proto.sendCommand;
proto.sendCommand = function (this: Redis, c, ...r) {
  const sha = String(c.args[0]);
  if (c.name === 'evalsha' && names.get(sha)?.startsWith('sy:'))
    sent.push({ name: names.get(sha)!, args: c.args.map((a) => (Buffer.isBuffer(a) ? a.toString() : String(a))) });
  return orig.call(this, c, ...r);
};
const { id } = await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: 'recorded' });
await sy.finished(id);
proto.sendCommand = orig;

const r = newRedis('probe-cost', own.url);
/** µs of Redis' main thread over `fn`, or with --callgrind its instructions (then `unit` says so). */
const unit = cg ? 'k instructions/call' : 'µs/call';
const cpuOf = async (fn: () => Promise<void>) => {
  if (cg) return (await instructions(cg, fn)).all / 1000;
  const c0 = await redisMainThreadCpuSeconds(r);
  await fn();
  return ((await redisMainThreadCpuSeconds(r)) - c0) * 1e6;
};

/** A script's source at `rev`: its Lua and includes from git (expanded as today's loader does), today's constants in front. */
function sourceAt(rev: string, name: string): string {
  return luaSource(name, undefined, (_dir, path) => execFileSync('git', ['show', `${rev}:src/store/scripts/lua/${path}.lua`], { encoding: 'utf8' }));
}

/** The variants sent besides today's scripts: label → the SHA to send a script's call to. */
const variants: [string, (s: Sent) => Promise<string>][] = [['today', async (s) => s.args[0]!]];
if (opts.against) {
  const rev = opts.against;
  variants.push([rev, async (s) => String(await r.call('script', 'load', sourceAt(rev, s.name.replace(/^sy:/, ''))))]);
}
if (opts.noop) variants.push(['no-op', async () => String(await r.call('script', 'load', 'return 0'))]);

const rounds: Record<string, number[]> = {};
const note = (k: string, us: number) => (rounds[k] ??= []).push(us / N);
const incomparable = new Set<string>();
let seq = 0;
// A script whose keys or arguments changed since `--against` answers today's calls otherwise
// than today's script (an error, or another reply): one run is sent through both first, and a
// script whose reply differs is not measured (today's is sent in its place, unmeasured, so that
// the next scripts find their runs).
const replyOf = async (sha: string, s: Sent, runId: string) =>
  JSON.stringify(await r.call('evalsha', sha, ...s.args.slice(1).map((a) => a.split(id).join(runId))).catch((err: Error) => `error ${err.message}`))
    .split(runId)
    .join('<run>');
for (const [label, shaOf] of variants.filter(([l]) => l === opts.against)) {
  const [mine, theirs] = [`run_probe${seq++}x`, `run_probe${seq++}x`];
  for (const s of sent) {
    const today = await replyOf(s.args[0]!, s, mine);
    if ((await replyOf(await shaOf(s), s, theirs)) !== today) {
      incomparable.add(`${s.name} (${label})`);
      await replyOf(s.args[0]!, s, theirs);
    }
  }
}
const runIds = () => Array.from({ length: N }, () => `run_probe${seq++}x`);
for (let round = 0; round < Number(opts.rounds); round++) {
  // Each variant's calls go to runs of their own, in the order of a run (create, begin, complete).
  for (const [label, shaOf] of variants) {
    const ids = runIds();
    for (const s of sent) {
      const key = `${s.name} (${label})`;
      let sha = await shaOf(s);
      const send = (runId: string) => r.call('evalsha', sha, ...s.args.slice(1).map((a) => a.split(id).join(runId)));
      if (incomparable.has(key)) {
        sha = s.args[0]!;
        await windowed(N, 64, (i) => send(ids[i]!));
        continue;
      }
      note(key, await cpuOf(() => windowed(N, 64, (i) => send(ids[i]!))));
    }
  }
  const ids = runIds();
  const big = 'x'.repeat(200);
  note(
    'hset ×3 (the floor)',
    await cpuOf(() =>
      windowed(N, 64, async (i) => {
        const k = `{probe}:w:${ids[i]}`;
        await r.hset(k, 'status', 'queued', 'input', big, 'createdAt', new Date().toISOString());
        await r.hset(k, 'status', 'running', 'attempt', '1', 'startedAt', new Date().toISOString());
        await r.hset(k, 'status', 'succeeded', 'output', big, 'finishedAt', new Date().toISOString());
      }),
    ),
  );
}
for (const k of incomparable) console.log(`${k}: not comparable (it answers today's calls otherwise: its keys or arguments changed since)`);
for (const [k, xs] of Object.entries(rounds)) console.log(`${k}: ${median(xs).toFixed(1)} ${unit} (rounds ${xs.map((x) => x.toFixed(1)).join(', ')})`);
r.disconnect();
await sy.close();
await own.destroy();
