/**
 * Probe (no target): what BullMQ's own scripts cost per single-step run for Switchyard's step
 * jobs and for the floor's jobs (lib/durable.ts), under (m)'s load (N runs, 64 submissions in
 * flight, worker concurrency 50), on a Redis of its own. Every command of each side's round is
 * in SLOWLOG (µs each; a script's own commands are logged just before it). Printed per side:
 * each BullMQ script (calls/run, µs/call), and its inner commands by command and key (the ids
 * left out): calls/run and µs/call, so what one side does more of is seen line by line. Then
 * both sides' rounds at once, each script named with its side: the two in the same conditions.
 *
 *   node --import tsx bench/probes/bullmq-cost.ts [N]
 */
import type { Redis } from 'ioredis';
import { ownRedis } from '../../test/helpers/redis-server.js';
import { DurableWrites } from '../lib/durable.js';
import { newRedis } from '../lib/redis.js';
import { scriptNames } from '../lib/script-names.js';
import { echoAgent, startSwitchyard } from '../lib/switchyard.js';
import { fmt, median, withTimeout } from '../lib/util.js';
import { IN_FLIGHT, SINGLE_CONCURRENCY, rawJobOptions, startRawQueue, windowed } from '../scenarios/single.js';

const N = Number(process.argv[2] ?? 500);

/** A key without its prefix and ids: `{p}:agent.one:run_x.one:lock` → `<job>:lock`. */
function shape(key: string, jobIds: RegExp): string {
  const k = key.replace(/^\{[^}]*\}:?/, '').replace(/^[^:]*:/, '');
  return k.replace(jobIds, '<job>').replace(/ws:[^:]+:run:[^:]+/, '<run>');
}

interface Row {
  calls: number;
  us: number;
  /** Each call's µs (wall-clock: a busy machine adds outliers to the mean, hence the median too). */
  each: number[];
}

/** SLOWLOG times of every command of `round`; a script's own commands (client `?:0`, logged just before it) are its. */
async function measured(info: Redis, jobIds: RegExp, round: () => Promise<void>): Promise<Map<string, Map<string, Row>>> {
  const names = scriptNames();
  await info.config('SET', 'slowlog-log-slower-than', '0');
  await info.slowlog('RESET');
  await round();
  await new Promise((r) => setTimeout(r, 300));
  await info.config('SET', 'slowlog-log-slower-than', '-1');
  const entries = ((await info.slowlog('GET', '-1')) as [number, number, number, string[], string][]).reverse();
  const quiet = new Set(['slowlog', 'config', 'info', 'client', 'ping']);
  const byScript = new Map<string, Map<string, Row>>();
  const add = (script: string, what: string, us: number) => {
    const m = byScript.get(script) ?? new Map<string, Row>();
    const r = m.get(what) ?? { calls: 0, us: 0, each: [] };
    r.calls++;
    r.us += us;
    r.each.push(us);
    m.set(what, r);
    byScript.set(script, m);
  };
  let inner: [string, number][] = [];
  for (const [, , us, args, addr] of entries) {
    const cmd = (args[0] ?? '').toLowerCase();
    if (quiet.has(cmd)) continue;
    if (addr === '?:0') {
      inner.push([`${cmd} ${shape(args[1] ?? '', jobIds)}`, us]);
      continue;
    }
    // Which side a script served, by its first key's prefix (both sides may run at once).
    const side = /\{bench-(sy|raw)-/.exec(args[3] ?? '')?.[1];
    const named = (names.get(args[1] ?? '') ?? 'script?') + (side ? (side === 'sy' ? ' (Switchyard)' : ' (floor)') : '');
    const script = cmd === 'evalsha' ? named : '(top)';
    add(script, cmd === 'evalsha' ? '(whole script)' : `${cmd} ${shape(args[1] ?? '', jobIds)}`, us);
    for (const [what, t] of inner) add(script, what, t);
    inner = [];
  }
  return byScript;
}

function print(title: string, by: Map<string, Map<string, Row>>, n: number): void {
  console.log(`\n## ${title} (${n} runs)`);
  const scripts = [...by].filter(([s]) => s.startsWith('bullmq:'));
  scripts.sort((a, b) => (b[1].get('(whole script)')?.us ?? 0) - (a[1].get('(whole script)')?.us ?? 0));
  for (const [script, rows] of scripts) {
    const whole = rows.get('(whole script)') ?? { calls: 0, us: 0, each: [0] };
    let inner = 0;
    for (const [w, r] of rows) if (w !== '(whole script)') inner += r.us;
    console.log(
      `${script}: ${fmt(whole.calls / n, 2)}/run × ${fmt(whole.us / Math.max(1, whole.calls), 1)} µs (median ${fmt(median(whole.each), 0)}) = ${fmt(whole.us / n, 1)} µs/run (inner commands ${fmt(inner / n, 1)}, Lua itself ${fmt((whole.us - inner) / n, 1)})`,
    );
    for (const [w, r] of [...rows].filter(([w]) => w !== '(whole script)').sort((a, b) => b[1].us - a[1].us))
      console.log(`    ${w.padEnd(44)} ${fmt(r.calls / n, 2).padStart(5)}/run × ${fmt(r.us / r.calls, 2).padStart(5)} µs = ${fmt(r.us / n, 2)} µs/run`);
  }
  const top = by.get('(top)');
  if (top) {
    const bull = [...top].filter(([w]) => /marker|:events|:meta|:wait|:active/.test(w));
    for (const [w, r] of bull) console.log(`  (not in a script) ${w}: ${fmt(r.calls / n, 2)}/run × ${fmt(r.us / r.calls, 2)} µs`);
  }
}

const own = await ownRedis({ aof: false, args: ['--slowlog-max-len', '1000000'] });
const c = SINGLE_CONCURRENCY;
const sy = await startSwitchyard({ name: 'bcost', agents: { one: echoAgent(0, c) }, workflows: [], redisUrl: own.url });
const writes = new DurableWrites(own.url);
const floor = await startRawQueue('bcost-floor', c, writes.processor(), own.url);
const info = newRedis('probe-bullmq-cost', own.url);
let seq = 0;
const syRound = (runs: number) => async () => {
  const ends: Promise<unknown>[] = [];
  await windowed(runs, IN_FLIGHT, async (i) => {
    const { id } = await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: `task ${i}` });
    ends.push(withTimeout(sy.finished(id), 120_000, `run ${id}`));
  });
  await Promise.all(ends);
};
const floorRound = (runs: number) => async () => {
  const ends: Promise<unknown>[] = [];
  await windowed(runs, IN_FLIGHT, async (i) => {
    const id = `j${seq++}`;
    await writes.run(id, `task ${i}`);
    await floor.queue.add('task', { task: `task ${i}` }, rawJobOptions(id));
    ends.push(withTimeout(floor.done(id), 120_000, `raw job ${id}`));
  });
  await Promise.all(ends);
};
try {
  // Warm both sides first (V8, and the queues' keys as they are in a steady state).
  await syRound(N)();
  await floorRound(N)();
  print('Switchyard step jobs', await measured(info, /run_[0-9a-z]+\.[A-Za-z0-9_-]+/, syRound(N)), N);
  print('floor jobs', await measured(info, /\bj\d+\b/, floorRound(N)), N);
  // Both at once: each side's scripts in the same conditions (the machine, Redis' memory, Node's load).
  const both = /run_[0-9a-z]+\.[A-Za-z0-9_-]+|\bj\d+\b/;
  print('both sides at once', await measured(info, both, async () => void (await Promise.all([syRound(N)(), floorRound(N)()]))), N);
} finally {
  await info.quit().catch(() => info.disconnect());
  await floor.close();
  await writes.close();
  await sy.close();
  await own.destroy();
}
