/**
 * Probe (not a bench scenario, no target): what durability alone costs a raw chain step, in
 * (b)'s shape (200 steps, worker concurrency 4, 5 rounds after 2, timed from add to the end).
 * Three sides, one after the other in each round: Switchyard; a raw nested flow with a trivial
 * processor; and the same flow whose processor makes two awaited HSETs on a connection of
 * their own (the attempt before the work, the answer after it). See docs/adr/005.
 *
 *   node --import tsx bench/probes/durable-chain.ts
 */
import { performance } from 'node:perf_hooks';
import { FlowProducer, Worker, type FlowJob, type Job } from 'bullmq';
import { newRedis, benchPrefix, cleanupPrefix } from '../lib/redis.js';
import { startSwitchyard, echoAgent } from '../lib/switchyard.js';
import { rawJobOpts } from '../lib/raw.js';
import { median, RootSettlements } from '../lib/util.js';
const n = 200;
const id = (i: number) => `c${String(i).padStart(3, '0')}`;
const wf = {
  name: 'pc',
  steps: Array.from({ length: n }, (_, i) => ({ id: id(i), agent: 'zero', input: { task: `step ${i}` }, dependsOn: i ? [id(i - 1)] : [] })),
};
const sy = await startSwitchyard({ name: 'pdc', agents: { zero: echoAgent(0, 4) }, workflows: [wf] });
async function rawChain(name: string, writes: boolean) {
  const prefix = benchPrefix(name);
  const connection = newRedis('probe-raw');
  const w = newRedis('probe-w');
  const fp = new FlowProducer({ connection, prefix });
  const worker = new Worker(
    'raw',
    async (job: Job) => {
      if (writes) await w.hset(`${prefix}:s:${job.id}`, 'status', 'running', 'attempt', '1');
      if (writes) await w.hset(`${prefix}:s:${job.id}`, 'status', 'succeeded', 'output', `out ${job.name}`);
      return { stepId: job.name, status: 'succeeded' };
    },
    { connection, prefix, concurrency: 4 },
  );
  await worker.waitUntilReady();
  const roots = new RootSettlements(worker, (i) => i.startsWith('root'));
  let seq = 0;
  return {
    async run() {
      const tag = `t${seq++}`;
      let node: FlowJob | undefined;
      for (let i = 0; i < n; i++) {
        const last = i === n - 1;
        const jobId = last ? `root-${tag}` : `${tag}.c${i}`;
        node = { name: `c${i}`, queueName: 'raw', data: { i }, opts: rawJobOpts(jobId), ...(node ? { children: [node] } : {}) };
      }
      const done = roots.wait(`root-${tag}`);
      const t0 = performance.now();
      await fp.add(node!);
      const s = await done;
      return s.t - t0;
    },
    async close() {
      await worker.close();
      await fp.close();
      connection.disconnect();
      w.disconnect();
      await cleanupPrefix(prefix);
    },
  };
}
const raw = await rawChain('pdc-raw', false);
const dur = await rawChain('pdc-dur', true);
const r: Record<string, number[]> = { sy: [], raw: [], dur: [] };
for (let k = 0; k < 2; k++) {
  await sy.run('pc');
  await raw.run();
  await dur.run();
}
for (let k = 0; k < 5; k++) {
  r.sy!.push((await sy.run('pc')).ms);
  r.raw!.push(await raw.run());
  r.dur!.push(await dur.run());
}
const per = (xs: number[]) => median(xs) / n;
console.log(`ms/step: switchyard ${per(r.sy!).toFixed(3)}, raw ${per(r.raw!).toFixed(3)}, raw + 2 awaited writes ${per(r.dur!).toFixed(3)}`);
console.log(
  `ratios: sy/raw ${(per(r.sy!) / per(r.raw!)).toFixed(2)}, (raw+writes)/raw ${(per(r.dur!) / per(r.raw!)).toFixed(2)}, sy/(raw+writes) ${(per(r.sy!) / per(r.dur!)).toFixed(2)}`,
);
await raw.close();
await dur.close();
await sy.close();
