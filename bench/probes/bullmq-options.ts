/**
 * Probe (no target): what each job or worker option Switchyard gives its step jobs costs
 * BullMQ's scripts, on plain BullMQ. On a Redis of its own, one queue and worker per variant
 * (concurrency 50, 2,000 `queue.add` jobs a round, 64 in flight, as (m)); Redis' main-thread CPU
 * per job (`INFO cpu`) and commands per job, medians of interleaved rounds. `floor` is the
 * floor's jobs (bench/scenarios/single.ts, without its three HSETs); `step` is shaped like a
 * Switchyard step job (its data, its options, the worker's limiter, a priority per job, its
 * envelope returned); each other variant is `step` with one thing changed. The `+ JSON
 * scripts` variants run, per job, three scripts as EVAL on another connection that allocate as
 * Switchyard's state scripts do, to see whether BullMQ's scripts pay for their garbage.
 *
 *   node --import tsx bench/probes/bullmq-options.ts [rounds] ['variant|variant']
 *   node --import tsx bench/probes/bullmq-options.ts --callgrind [jobs] ['variant|variant']
 *
 * With --callgrind, Redis runs under valgrind's callgrind (about 50 times slower): one round of
 * each variant, and Redis' instructions per job, all of them and BullMQ's scripts' alone
 * (`evalShaCommand`, inclusive; the JSON scripts are sent as EVAL). Instruction counts do not
 * move with the machine's load as CPU time does.
 */
import { Queue, Worker, type JobsOptions, type WorkerOptions } from 'bullmq';
import { callgrindRedis, instructions, type CallgrindRedis } from '../lib/callgrind.js';
import { ownRedis } from '../../test/helpers/redis-server.js';
import { benchPrefix, newRedis, redisCommandStats, redisMainThreadCpuSeconds } from '../lib/redis.js';
import { scriptNames } from '../lib/script-names.js';
import { Arrivals, fmt, median, withTimeout } from '../lib/util.js';
import { IN_FLIGHT, SINGLE_CONCURRENCY, windowed } from '../scenarios/single.js';

const CALLGRIND = process.argv[2] === '--callgrind';
const argv = CALLGRIND ? process.argv.slice(1) : process.argv;
const N = CALLGRIND ? Number(argv[2] ?? 300) : 2000;
const ROUNDS = CALLGRIND ? 1 : Number(argv[2] ?? 5);
const only = argv[3]?.split('|');

/** A step job's data as Switchyard adds it for a single-step agent task (flow-builder.ts). */
const stepData = (i: number) => ({
  runId: `run_0mxcvsgfnafd555e471e4${i}`,
  workspaceId: 'default',
  step: {
    id: 'one',
    kind: 'agent',
    agent: 'one',
    input: { task: `task ${i}` },
    dependsOn: [],
    optional: false,
    allowSkippedDeps: false,
    literal: true,
    reads: [],
  },
  refs: [],
  standalone: true,
});
const stepOpts = (): JobsOptions => ({
  attempts: 1,
  backoff: { type: 'exponential', delay: 1000, jitter: 0 },
  removeOnComplete: true,
  removeOnFail: { age: 3600 },
});
const floorOpts = (): JobsOptions => ({ attempts: 1, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } });
const UNLIMITED = { max: 1_000_000_000, duration: 1000 };

interface Variant {
  data: (i: number) => unknown;
  opts: () => JobsOptions;
  worker: Partial<WorkerOptions>;
  /** A priority per job (increasing, as fair turns are), or none. */
  priority: boolean;
  returns: unknown;
  /** Scripts per job on another connection that allocate as Switchyard's state scripts do (JSON of a run record decoded and encoded), or none. */
  garbage?: number;
}
const floor: Variant = { data: (i) => ({ task: `task ${i}` }), opts: floorOpts, worker: {}, priority: false, returns: { status: 'succeeded' } };
const step: Variant = { data: stepData, opts: stepOpts, worker: { limiter: UNLIMITED }, priority: true, returns: { stepId: 'one', status: 'succeeded' } };
const variants: Record<string, Variant> = {
  floor,
  'floor, step data': { ...floor, data: stepData },
  'floor, step options': { ...floor, opts: stepOpts },
  'floor, step envelope': { ...floor, returns: step.returns },
  step,
  'step, no limiter': { ...step, worker: {} },
  'step, no priority': { ...step, priority: false },
  'step, small data': { ...step, data: (i) => ({ task: `task ${i}` }) },
  'step, kept 1 h': { ...step, opts: () => ({ ...stepOpts(), removeOnComplete: { age: 3600 } }) },
  'step, returns nothing': { ...step, returns: undefined },
  'step, no backoff': { ...step, opts: () => ({ attempts: 1, removeOnComplete: true, removeOnFail: { age: 3600 } }) },
  'step, no limiter/priority': { ...step, worker: {}, priority: false },
  'floor + JSON scripts': { ...floor, garbage: 3 },
  'step + JSON scripts': { ...step, garbage: 3 },
};

/** A finished run's record as step-complete writes it (about 1.5 KB of JSON). */
const RECORD = JSON.stringify({
  id: 'run_0mxcvsgfnafd555e471e4',
  workspaceId: 'default',
  workflow: 'agent/one',
  status: 'running',
  input: { task: 'hello' },
  agents: ['one'],
  usage: { inputTokens: 2, outputTokens: 3, costUsd: 0 },
  steps: [
    {
      stepId: 'one',
      kind: 'agent',
      agent: 'one',
      status: 'succeeded',
      dependsOn: [],
      input: { task: 'hello' },
      output: '[one] hello',
      usage: { inputTokens: 2, outputTokens: 3 },
      debug: { attempt: 1, request: { model: 'echo', maxTokens: 1024 } },
    },
  ],
  events: ['run.queued', 'run.started', 'step.started', 'step.completed', 'run.finished'].map((type) => ({
    type,
    at: '2026-12-07T06:20:17.081Z',
    data: { workflow: 'agent/one', attempt: 1 },
  })),
});
const GARBAGE = `local t = cjson.decode(ARGV[1]); t.status = 'succeeded'; t.n = ARGV[2]
local s = cjson.encode(t); redis.call('HSET', KEYS[1], 'run', s, 'status', t.status); redis.call('DEL', KEYS[1]); return #s`;

const own: { url: string; destroy(): Promise<void> } = CALLGRIND
  ? await callgrindRedis()
  : await ownRedis({ aof: false, args: ['--slowlog-max-len', '1000000'] });
const info = newRedis('probe-options', own.url);
const connection = newRedis('probe-options-bull', own.url);
const state = newRedis('probe-options-state', own.url);
const sides = await Promise.all(
  Object.entries(variants)
    .filter(([name]) => !only || only.includes(name))
    .map(async ([name, v]) => {
      const prefix = benchPrefix(`opt-${name.replace(/[^a-z]/g, '')}`);
      const queue = new Queue('agent.one', { connection, prefix });
      const ends = new Arrivals<number>();
      const worker = new Worker('agent.one', async () => v.returns, { connection, prefix, concurrency: SINGLE_CONCURRENCY, ...v.worker });
      worker.on('completed', (job) => ends.arrive(job.id!, 0));
      await worker.waitUntilReady();
      return { name, v, queue, worker, ends };
    }),
);
let seq = 0;
const round = async (s: (typeof sides)[number]) => {
  const done: Promise<unknown>[] = [];
  await windowed(N, IN_FLIGHT, async (i) => {
    const id = `run_${seq++}.one`;
    for (let g = 0; g < (s.v.garbage ?? 0); g++) await state.eval(GARBAGE, 1, `{probe-garbage}:${id}`, RECORD, String(g));
    await s.queue.add('one', s.v.data(i), { ...s.v.opts(), jobId: id, ...(s.v.priority ? { priority: 1 + (seq % 2_000_000) } : {}) });
    done.push(withTimeout(s.ends.wait(id), 120_000, id));
  });
  await Promise.all(done);
};
const results = new Map<string, { cpu: number[]; cmds: number[] }>();
try {
  for (const s of sides) await round(s); // warm-up
  if (CALLGRIND) {
    for (const s of sides) {
      const k0 = await redisCommandStats(info);
      const { all, evalsha } = await instructions(own as CallgrindRedis, () => round(s));
      const k1 = await redisCommandStats(info);
      let cmds = 0;
      for (const [name, { calls }] of k1) if (name !== 'info') cmds += calls - (k0.get(name)?.calls ?? 0);
      console.log(
        `${s.name.padEnd(26)} ${fmt(all / N / 1000, 1).padStart(7)} k instructions/job, BullMQ's scripts ${fmt(evalsha / N / 1000, 1).padStart(7)} k; ${fmt(cmds / N, 1)} commands/job`,
      );
    }
  }
  for (let r = 0; r < ROUNDS && !CALLGRIND; r++) {
    for (const s of sides) {
      const [c0, k0] = [await redisMainThreadCpuSeconds(info), await redisCommandStats(info)];
      await round(s);
      const [c1, k1] = [await redisMainThreadCpuSeconds(info), await redisCommandStats(info)];
      let cmds = 0;
      for (const [name, { calls }] of k1) if (name !== 'info') cmds += calls - (k0.get(name)?.calls ?? 0);
      const e = results.get(s.name) ?? { cpu: [], cmds: [] };
      e.cpu.push(((c1 - c0) * 1e6) / N);
      e.cmds.push(cmds / N);
      results.set(s.name, e);
    }
  }
  const base = median(results.get('step')?.cpu ?? [NaN]);
  for (const [name, e] of results) {
    const m = median(e.cpu);
    console.log(
      `${name.padEnd(26)} ${fmt(m, 1).padStart(6)} µs/job (rounds ${e.cpu.map((x) => x.toFixed(0)).join(', ')}), ${fmt(median(e.cmds), 1)} commands/job; vs step ${fmt(m - base, 1)} µs`,
    );
  }
  // One more round of each under SLOWLOG: µs per call of each BullMQ script.
  const names = scriptNames();
  for (const s of CALLGRIND ? [] : sides) {
    await info.config('SET', 'slowlog-log-slower-than', '0');
    await info.slowlog('RESET');
    await round(s);
    await info.config('SET', 'slowlog-log-slower-than', '-1');
    const by = new Map<string, number[]>();
    for (const [, , us, args, addr] of (await info.slowlog('GET', '-1')) as [number, number, number, string[], string][]) {
      if (addr === '?:0' || (args[0] ?? '').toLowerCase() !== 'evalsha') continue;
      const name = names.get(args[1] ?? '') ?? 'other script';
      by.set(name, [...(by.get(name) ?? []), us]);
    }
    // Medians per call: SLOWLOG times are wall-clock, and a busy machine adds outliers to means.
    const line = [...by]
      .sort((a, b) => b[1].length - a[1].length)
      .map(([k, xs]) => `${k.replace('bullmq:', '')} ${fmt(xs.length / N, 2)}× median ${fmt(median(xs), 0)}`);
    console.log(`  ${s.name.padEnd(26)} SLOWLOG µs per call: ${line.join(', ')}`);
  }
} finally {
  for (const s of sides) {
    await s.worker.close();
    await s.queue.close();
  }
  await connection.quit().catch(() => connection.disconnect());
  await state.quit().catch(() => state.disconnect());
  await info.quit().catch(() => info.disconnect());
  await own.destroy();
}
