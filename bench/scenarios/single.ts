/**
 * (d) Independent single-step runs per second. Switchyard: N agent tasks submitted through
 * RunsService (as the API does, without HTTP), a 0 ms echo agent with concurrency C. Raw: N
 * `queue.add` jobs on one queue, a trivial processor, worker concurrency C. Both keep the same
 * number of submissions in flight and are timed from the first submission to the last end.
 * The floor: raw `queue.add` with the three awaited writes of durability (lib/durable.ts).
 * Target: Switchyard runs/s ≥ 0.6 × the floor's jobs/s (÷ raw printed beside it).
 */
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import { DurableWrites } from '../lib/durable.js';
import { loadLine, sampled } from '../lib/measure.js';
import { cpuProfile, describeCommands, startCommandCount } from '../lib/profile.js';
import { benchPrefix, cleanupPrefix, newRedis } from '../lib/redis.js';
import { echoAgent, startSwitchyard } from '../lib/switchyard.js';
import { Arrivals, fmt, interleaved, median, withTimeout } from '../lib/util.js';
import type { BenchContext, Scenario, ScenarioResult } from './types.js';

export const SINGLE_CONCURRENCY = 50;
/** Submissions in flight at once, on both sides. */
export const IN_FLIGHT = 64;

/** Run `n` submissions with at most `window` in flight. */
export async function windowed(n: number, window: number, one: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, lane));
}

/** A raw queue + worker whose jobs' ends can be awaited by id. */
export async function startRawQueue(
  name: string,
  concurrency: number,
  processor: (job: { id?: string; data: unknown }) => Promise<unknown> = async () => ({ status: 'succeeded' }),
  redisUrl?: string,
) {
  const prefix = benchPrefix(`raw-${name}`);
  const connection = newRedis('switchyard-bench-raw', redisUrl);
  const queue = new Queue('raw', { connection, prefix });
  const worker = new Worker('raw', processor, { connection, prefix, concurrency });
  worker.on('error', (err) => console.error(`raw worker error: ${err.message}`));
  await worker.waitUntilReady();
  const ends = new Arrivals<number>();
  worker.on('completed', (job) => ends.arrive(job.id!, performance.now()));
  return {
    prefix,
    queue,
    connection,
    done: (id: string): Promise<number> => ends.wait(id),
    async close() {
      await worker.close();
      await queue.close();
      await connection.quit().catch(() => connection.disconnect());
      await cleanupPrefix(prefix, redisUrl);
    },
  };
}

export const rawJobOptions = (jobId: string) => ({ jobId, attempts: 1, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } });

export const singleScenario: Scenario = {
  id: 'd',
  title: 'independent single-step runs per second',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const n = ctx.quick ? 500 : 2000;
    const c = SINGLE_CONCURRENCY;
    const sy = await startSwitchyard({ name: 'single', agents: { one: echoAgent(0, c) }, workflows: [] });
    const raw = await startRawQueue('single', c);
    const writes = new DurableWrites();
    const floor = await startRawQueue('single-floor', c, writes.processor());
    const info = newRedis('switchyard-bench-info');
    let seq = 0;
    const syRound = async () => {
      const t0 = performance.now();
      const ends: Promise<unknown>[] = [];
      await windowed(n, IN_FLIGHT, async (i) => {
        const { id } = await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: `task ${i}` });
        ends.push(withTimeout(sy.finished(id), 120_000, `run ${id}`));
      });
      await Promise.all(ends);
      return performance.now() - t0;
    };
    const rawRound = (q: typeof raw, durable: boolean) => async () => {
      const t0 = performance.now();
      const ends: Promise<unknown>[] = [];
      await windowed(n, IN_FLIGHT, async (i) => {
        const id = `j${seq++}`;
        if (durable) await writes.run(id, `task ${i}`);
        await q.queue.add('task', { task: `task ${i}` }, rawJobOptions(id));
        ends.push(withTimeout(q.done(id), 120_000, `raw job ${id}`));
      });
      await Promise.all(ends);
      return performance.now() - t0;
    };
    try {
      const res = await interleaved(
        ctx,
        () => sampled(info, syRound),
        () => sampled(info, rawRound(raw, false)),
        () => sampled(info, rawRound(floor, true)),
      );
      const syMs = res.sw.map((s) => s.value);
      const rawMs = res.raw.map((s) => s.value);
      const floorMs = res.floor.map((s) => s.value);
      const syRate = n / (median(syMs) / 1000);
      const rawRate = n / (median(rawMs) / 1000);
      const floorRate = n / (median(floorMs) / 1000);
      const ratio = syRate / rawRate;
      const floorRatio = syRate / floorRate;
      // Judged against the floor: raw + the same awaited writes (ADR 005).
      const pass = floorRatio >= 0.6;
      const details = [
        `sizes: ${n} independent runs (agent tasks) / raw jobs, ${IN_FLIGHT} submissions in flight, worker concurrency ${c} (echo latencyMs 0; raw: one queue, trivial processor; floor: raw + 3 awaited HSETs)`,
        `Switchyard totals (ms): ${syMs.map((x) => x.toFixed(0)).join(', ')}`,
        `raw totals (ms): ${rawMs.map((x) => x.toFixed(0)).join(', ')}`,
        `floor totals (ms): ${floorMs.map((x) => x.toFixed(0)).join(', ')}`,
        loadLine('Switchyard load', res.sw, { n, unit: 'run' }),
        loadLine('raw load', res.raw, { n, unit: 'job' }),
        loadLine('floor load', res.floor, { n, unit: 'job' }),
        `ratios: ÷ raw ${fmt(ratio, 2)}, ÷ floor ${fmt(floorRatio, 2)}, floor ÷ raw ${fmt(floorRate / rawRate, 2)}`,
      ];
      if (!pass || ctx.profile) {
        const count = startCommandCount();
        const { id } = await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: 'profiled' });
        await sy.finished(id);
        const st = count.stop();
        const rc = startCommandCount();
        const jid = `j${seq++}`;
        await raw.queue.add('task', { task: 'profiled' }, rawJobOptions(jid));
        await raw.done(jid);
        const rst = rc.stop();
        details.push(
          `round trips per run: Switchyard ${st.roundTrips} (${st.commands} commands), raw ${rst.roundTrips} (${rst.commands} commands), one at a time, this process' connections`,
          'Switchyard commands of one run:',
          ...describeCommands(st, 1, 20).map((l) => `  ${l}`),
        );
        if (ctx.profile) details.push('CPU profile of one Switchyard round:', ...(await cpuProfile(syRound, 30)).map((l) => `  ${l}`));
      }
      return {
        id: 'd',
        title: `${n} independent single-step runs: runs per second`,
        switchyard: `${fmt(syRate, 0)} runs/s`,
        baseline: `${fmt(rawRate, 0)} jobs/s (raw queue.add)`,
        ratio,
        floor: { baseline: `${fmt(floorRate, 0)} jobs/s`, ratio: floorRatio },
        target: '≥ 0.6 ÷ floor',
        pass,
        details,
      };
    } finally {
      await info.quit().catch(() => info.disconnect());
      await raw.close();
      await floor.close();
      await writes.close();
      await sy.close();
    }
  },
};
