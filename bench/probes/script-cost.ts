/**
 * Probe (not a bench scenario, no target): what each of Switchyard's scripts of a single-step run
 * costs Redis' main thread, alone. On a Redis of its own, one agent task is run and its scripts'
 * calls recorded (create-run, step-begin, step-complete with the run's finish); then each is sent
 * again for 2,000 new runs (the run id replaced), 64 in flight, one script at a time, with
 * `INFO cpu` (main thread) before and after each; and, for comparison, 2,000 plain `HSET`s of
 * the floor's shape (lib/durable.ts). Medians of 3 rounds. See docs/adr/005.
 *
 *   node --import tsx bench/probes/script-cost.ts
 */
import { Redis } from 'ioredis';
import { ownRedis } from '../../test/helpers/redis-server.js';
import { newRedis, redisMainThreadCpuSeconds } from '../lib/redis.js';
import { scriptNames } from '../lib/script-names.js';
import { echoAgent, startSwitchyard } from '../lib/switchyard.js';
import { median } from '../lib/util.js';
import { windowed } from '../scenarios/single.js';

const N = 2000;
const own = await ownRedis({ aof: false, args: ['--slowlog-max-len', '200000'] });
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
const cpuOf = async (fn: () => Promise<void>) => {
  const c0 = await redisMainThreadCpuSeconds(r);
  await fn();
  return ((await redisMainThreadCpuSeconds(r)) - c0) * 1e6;
};
const rounds: Record<string, number[]> = {};
const note = (k: string, us: number) => (rounds[k] ??= []).push(us / N);
let seq = 0;
for (let round = 0; round < 3; round++) {
  const ids = Array.from({ length: N }, () => `run_probe${seq++}x`);
  for (const s of sent) {
    note(
      s.name,
      await cpuOf(() =>
        windowed(N, 64, async (i) => {
          await r.call('evalsha', ...s.args.map((a) => a.split(id).join(ids[i])));
        }),
      ),
    );
  }
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
for (const [k, xs] of Object.entries(rounds)) console.log(`${k}: ${median(xs).toFixed(1)} µs/call (rounds ${xs.map((x) => x.toFixed(1)).join(', ')})`);
r.disconnect();
await sy.close();
await own.destroy();
