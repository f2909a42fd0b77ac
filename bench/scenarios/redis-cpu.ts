/**
 * (m) What a single-step run costs Redis' main thread, on a Redis of this scenario's own (started
 * on a free loopback port, stopped by its PID): `INFO cpu` (main thread, user + sys) and `INFO
 * commandstats` before and after N runs, for Switchyard (agent tasks, as (d)), raw `queue.add`
 * jobs, and the floor (raw + the three awaited writes of durability, lib/durable.ts). Medians of
 * the rounds. Target: Switchyard ≤ 2x the floor. Then, untimed, one smaller round of each side
 * with every command in SLOWLOG: microseconds per call of each script (by name).
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { DurableWrites } from '../lib/durable.js';
import { ownRedis } from '../../test/helpers/redis-server.js';
import { newRedis, redisCommandStats, redisMainThreadCpuSeconds } from '../lib/redis.js';
import { scriptNames } from '../lib/script-names.js';
import { echoAgent, startSwitchyard } from '../lib/switchyard.js';
import { fmt, interleaved, median, withTimeout } from '../lib/util.js';
import { IN_FLIGHT, SINGLE_CONCURRENCY, rawJobOptions, startRawQueue, windowed } from './single.js';
import type { BenchContext, Scenario, ScenarioResult } from './types.js';

interface Cost {
  /** Main-thread CPU µs per run. */
  cpuUs: number;
  /** Commands per run (a script's own commands counted, INFO left out). */
  commands: number;
  /** EVALSHA/EVAL calls per run. */
  scripts: number;
  /** Microseconds per run of each command by INFO commandstats (a script's time includes its own commands'). */
  usec: Map<string, number>;
}

/** Redis' main-thread CPU and commands over `round` (n runs), per run. */
async function costOf(info: Redis, n: number, round: () => Promise<void>): Promise<Cost> {
  const [c0, s0] = [await redisMainThreadCpuSeconds(info), await redisCommandStats(info)];
  await round();
  const [c1, s1] = [await redisMainThreadCpuSeconds(info), await redisCommandStats(info)];
  let commands = 0;
  let scripts = 0;
  const usec = new Map<string, number>();
  for (const [name, { calls, usec: us }] of s1) {
    if (name === 'info') continue;
    const d = calls - (s0.get(name)?.calls ?? 0);
    commands += d;
    if (name === 'evalsha' || name === 'eval') scripts += d;
    usec.set(name, (us - (s0.get(name)?.usec ?? 0)) / n);
  }
  return { cpuUs: ((c1 - c0) * 1e6) / n, commands: commands / n, scripts: scripts / n, usec };
}

/** Every command of `round` in SLOWLOG: µs per call of each script and of each other command, by total time. */
async function perScript(info: Redis, n: number, round: () => Promise<void>): Promise<string[]> {
  await info.config('SET', 'slowlog-log-slower-than', '0');
  await info.slowlog('RESET');
  await round();
  await info.config('SET', 'slowlog-log-slower-than', '-1');
  const entries = (await info.slowlog('GET', '-1')) as [number, number, number, string[]][];
  const names = scriptNames();
  const by = new Map<string, { calls: number; us: number; each: number[] }>();
  for (const [, , us, args] of entries) {
    const cmd = (args[0] ?? '?').toLowerCase();
    if (cmd === 'slowlog' || cmd === 'config' || cmd === 'info') continue;
    const name = cmd === 'evalsha' ? (names.get(args[1] ?? '') ?? `sha:${(args[1] ?? '').slice(0, 8)}`) : cmd;
    const e = by.get(name) ?? { calls: 0, us: 0, each: [] };
    e.calls++;
    e.us += us;
    e.each.push(us);
    by.set(name, e);
  }
  // The median too: SLOWLOG's times are wall time, and a busy machine's outliers move the mean (ADR 005).
  return [...by]
    .sort((a, b) => b[1].us - a[1].us)
    .slice(0, 8)
    .map(([name, e]) => `${name}: ${fmt(e.calls / n, 2)}/run × ${fmt(e.us / e.calls, 1)} µs (median ${fmt(median(e.each), 0)}) = ${fmt(e.us / n, 1)} µs/run`);
}

export const redisCpuScenario: Scenario = {
  id: 'm',
  title: 'Redis main-thread CPU per single-step run',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const n = ctx.quick ? 500 : 2000;
    const c = SINGLE_CONCURRENCY;
    const own = await ownRedis({ aof: false, args: ['--slowlog-max-len', '200000'] });
    const sy = await startSwitchyard({ name: 'cpu', agents: { one: echoAgent(0, c) }, workflows: [], redisUrl: own.url });
    const raw = await startRawQueue('cpu', c, undefined, own.url);
    const writes = new DurableWrites(own.url);
    const floor = await startRawQueue('cpu-floor', c, writes.processor(), own.url);
    const info = newRedis('switchyard-bench-info', own.url);
    let seq = 0;
    const syRound = (runs: number) => async () => {
      const ends: Promise<unknown>[] = [];
      await windowed(runs, IN_FLIGHT, async (i) => {
        const { id } = await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: `task ${i}` });
        ends.push(withTimeout(sy.finished(id), 120_000, `run ${id}`));
      });
      await Promise.all(ends);
    };
    const rawRound = (q: typeof raw, durable: boolean, runs: number) => async () => {
      const ends: Promise<unknown>[] = [];
      await windowed(runs, IN_FLIGHT, async (i) => {
        const id = `j${seq++}`;
        if (durable) await writes.run(id, `task ${i}`);
        await q.queue.add('task', { task: `task ${i}` }, rawJobOptions(id));
        ends.push(withTimeout(q.done(id), 120_000, `raw job ${id}`));
      });
      await Promise.all(ends);
    };
    try {
      const t0 = performance.now();
      const res = await interleaved(
        ctx,
        () => costOf(info, n, syRound(n)),
        () => costOf(info, n, rawRound(raw, false, n)),
        () => costOf(info, n, rawRound(floor, true, n)),
      );
      const med = (xs: Cost[]): Cost => ({
        cpuUs: median(xs.map((x) => x.cpuUs)),
        commands: median(xs.map((x) => x.commands)),
        scripts: median(xs.map((x) => x.scripts)),
        usec: new Map([...xs[0]!.usec.keys()].map((k) => [k, median(xs.map((x) => x.usec.get(k) ?? 0))])),
      });
      /** The commands taking most time per run, and what scripts spent beyond their own commands (Lua itself). */
      const usecLine = (m: Cost) => {
        const top = [...m.usec].sort((a, b) => b[1] - a[1]).slice(0, 7);
        const inner = [...m.usec].filter(([k]) => k !== 'evalsha' && k !== 'eval').reduce((a, [, v]) => a + v, 0);
        return `commandstats µs/run: ${top.map(([k, v]) => `${k} ${fmt(v, 1)}`).join(', ')}; all other commands ${fmt(inner, 1)} (scripts' own included)`;
      };
      const [s, r, f] = [med(res.sw), med(res.raw), med(res.floor)];
      const ratio = s.cpuUs / r.cpuUs;
      const floorRatio = s.cpuUs / f.cpuUs;
      const line = (label: string, xs: Cost[], m: Cost) =>
        `${label}: ${fmt(m.cpuUs, 0)} µs/run (rounds ${xs.map((x) => x.cpuUs.toFixed(0)).join(', ')}), ${fmt(m.commands, 1)} commands/run of which ${fmt(m.scripts, 2)} scripts`;
      const pn = Math.min(n, 500);
      const details = [
        `sizes: ${n} runs per round on a Redis of its own (pid ${own.pid()}, ${own.url}), ${IN_FLIGHT} submissions in flight, worker concurrency ${c}; ${((performance.now() - t0) / 1000).toFixed(0)} s`,
        line('Switchyard', res.sw, s),
        line('raw', res.raw, r),
        line('floor (raw + 3 awaited HSETs)', res.floor, f),
        `  Switchyard ${usecLine(s)}`,
        `  floor ${usecLine(f)}`,
        `ratios of CPU per run: ÷ raw ${fmt(ratio, 2)}, ÷ floor ${fmt(floorRatio, 2)}; commands ÷ floor ${fmt(s.commands / f.commands, 2)}`,
        `each command's time (SLOWLOG, every command of ${pn} more runs, untimed; a script's own commands are listed too, and counted in its time):`,
        '  Switchyard:',
        ...(await perScript(info, pn, syRound(pn))).map((l) => `    ${l}`),
        '  floor:',
        ...(await perScript(info, pn, rawRound(floor, true, pn))).map((l) => `    ${l}`),
      ];
      return {
        id: 'm',
        title: `Redis main-thread CPU per single-step run (${n} runs)`,
        switchyard: `${fmt(s.cpuUs, 0)} µs, ${fmt(s.commands, 0)} commands`,
        baseline: `${fmt(r.cpuUs, 0)} µs, ${fmt(r.commands, 0)} commands (raw queue.add)`,
        ratio,
        floor: { baseline: `${fmt(f.cpuUs, 0)} µs, ${fmt(f.commands, 0)} commands`, ratio: floorRatio },
        target: '≤ 2 ÷ floor',
        pass: floorRatio <= 2,
        details,
      };
    } finally {
      await info.quit().catch(() => info.disconnect());
      await raw.close();
      await floor.close();
      await writes.close();
      await sy.close();
      await own.destroy();
    }
  },
};
