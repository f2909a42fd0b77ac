/**
 * Probe (not a bench scenario, no target): what durability alone costs a raw job, in (d)'s shape
 * (2,000 single-step jobs, 64 submissions in flight, worker concurrency 50, 5 rounds after 1).
 * Three sides, one after the other in each round: Switchyard; raw `queue.add` with a trivial
 * processor; and raw `queue.add` that makes the three awaited writes Switchyard's guarantees need,
 * as plain HSETs on a connection of their own (the run recorded before its job is added, the
 * attempt before the work, the answer before the job completes). See docs/adr/005.
 *
 *   node --import tsx bench/probes/durable-single.ts
 */
import { performance } from 'node:perf_hooks';
import { newRedis, benchPrefix, cleanupPrefix } from '../lib/redis.js';
import { startSwitchyard, echoAgent } from '../lib/switchyard.js';
import { windowed, startRawQueue, rawJobOptions } from '../scenarios/single.js';
import { median } from '../lib/util.js';
const n = 2000;
const sy = await startSwitchyard({ name: 'pdur', agents: { one: echoAgent(0, 50) }, workflows: [] });
const raw = await startRawQueue('pdur-raw', 50);
const w = newRedis('probe-writes');
const wp = benchPrefix('pdur-w');
const dur = await startRawQueue('pdur-dur', 50, async (job) => {
  await w.hset(`${wp}:${job.id}`, 'status', 'running', 'attempt', '1', 'startedAt', new Date().toISOString());
  const out = `answer ${(job.data as { task: string }).task}`;
  await w.hset(`${wp}:${job.id}`, 'status', 'succeeded', 'output', out, 'finishedAt', new Date().toISOString());
  return { status: 'succeeded' };
});
let seq = 0;
const syRound = async () => {
  const t = performance.now();
  const ends: Promise<unknown>[] = [];
  await windowed(n, 64, async (i) => {
    const { id } = await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: `task ${i}` });
    ends.push(sy.finished(id));
  });
  await Promise.all(ends);
  return performance.now() - t;
};
const rawRound = (q: typeof raw, writes: boolean) => async () => {
  const t = performance.now();
  const ends: Promise<unknown>[] = [];
  await windowed(n, 64, async (i) => {
    const id = `j${seq++}`;
    if (writes) await w.hset(`${wp}:${id}`, 'status', 'queued', 'input', `task ${i}`, 'createdAt', new Date().toISOString());
    await q.queue.add('t', { task: `task ${i}` }, rawJobOptions(id));
    ends.push(q.done(id));
  });
  await Promise.all(ends);
  return performance.now() - t;
};
const rounds: Record<string, number[]> = { sy: [], raw: [], dur: [] };
await syRound();
await rawRound(raw, false)();
await rawRound(dur, true)();
for (let k = 0; k < 5; k++) {
  rounds.sy!.push(await syRound());
  rounds.raw!.push(await rawRound(raw, false)());
  rounds.dur!.push(await rawRound(dur, true)());
}
const rate = (xs: number[]) => n / (median(xs) / 1000);
console.log(`runs/s: switchyard ${rate(rounds.sy!).toFixed(0)}, raw ${rate(rounds.raw!).toFixed(0)}, raw + 3 awaited writes ${rate(rounds.dur!).toFixed(0)}`);
console.log(
  `ratios: sy/raw ${(rate(rounds.sy!) / rate(rounds.raw!)).toFixed(2)}, (raw+writes)/raw ${(rate(rounds.dur!) / rate(rounds.raw!)).toFixed(2)}, sy/(raw+writes) ${(rate(rounds.sy!) / rate(rounds.dur!)).toFixed(2)}`,
);
w.disconnect();
await cleanupPrefix(wp);
await raw.close();
await dur.close();
await sy.close();
