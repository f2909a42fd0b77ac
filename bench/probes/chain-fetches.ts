/**
 * Where a chain's BullMQ fetches go: every `moveToActive` (and whether it found a job) and every
 * completion (whether it asked for and got the next job), for one N-step Switchyard chain and
 * one raw nested flow of the same depth (the raw one on REDIS_URL's Redis, under its own prefix).
 * `node --import tsx bench/probes/chain-fetches.ts [N]`, SHOW=1 to print each event.
 */
import { performance } from 'node:perf_hooks';
import { Job, Worker } from 'bullmq';
import { ownRedis } from '../../test/helpers/redis-server.js';
import { DurableWrites } from '../lib/durable.js';
import { RAW_QUEUE, rawJobOpts, startRaw } from '../lib/raw.js';
import { echoAgent, startSwitchyard } from '../lib/switchyard.js';
import type { FlowJob } from 'bullmq';

const N = Number(process.argv[2] ?? 20);
const log: string[] = [];
const t0 = performance.now();
// SPIN=1: a setImmediate loop counts the event loop's turns (t<n> in the log); it keeps the
// poll phase from blocking, which by itself changes the race (see ADR 005, i21-chain).
let tick = 0;
let ticking = process.env.SPIN === '1';
const spin = () => {
  tick++;
  if (ticking) setImmediate(spin);
};
if (ticking) spin();
const at = () => `${(performance.now() - t0).toFixed(2).padStart(9)} t${tick}`;
const wp = Worker.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
for (const name of ['moveToActive', 'waitForJob'] as const) {
  const orig = wp[name]!;
  wp[name] = async function (this: Worker, ...a: unknown[]) {
    log.push(`${at()} ${this.name} ${name} start`);
    const r = await orig.apply(this, a);
    const got = name === 'moveToActive' ? ((r as Job | undefined)?.name ?? '-') : String(r);
    log.push(`${at()} ${this.name} ${name} -> ${got}`);
    return r;
  };
}
const jp = Job.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
const origDone = jp.moveToCompleted!;
jp.moveToCompleted = async function (this: Job, ...a: unknown[]) {
  log.push(`${at()} ${this.queueName} complete ${this.name} fetchNext=${String(a[2])}`);
  const r = await origDone.apply(this, a);
  log.push(`${at()} ${this.queueName} completed ${this.name} -> ${Array.isArray(r) && r[0] ? 'next job' : 'none'}`);
  return r;
};

function summary(title: string): void {
  const ma = log.filter((l) => l.includes('moveToActive start')).length;
  const empty = log.filter((l) => l.includes('moveToActive -> -')).length;
  const waits = log.filter((l) => l.includes('waitForJob start')).length;
  const nextJob = log.filter((l) => l.includes('-> next job')).length;
  console.log(`\n## ${title}: ${N} steps: moveToActive ${ma} (${empty} empty), waitForJob ${waits}, completions handing the next job ${nextJob}`);
  if (process.env.SHOW) for (const l of log) console.log(l);
  log.length = 0;
}

const own = await ownRedis({ aof: false });
const id = (i: number) => `c${String(i).padStart(3, '0')}`;
const sy = await startSwitchyard({
  name: 'fetches',
  agents: { zero: echoAgent(0, 4) },
  workflows: [
    { name: 'chain', steps: Array.from({ length: N }, (_, i) => ({ id: id(i), agent: 'zero', input: { task: `s${i}` }, dependsOn: i ? [id(i - 1)] : [] })) },
  ],
  redisUrl: own.url,
});
if (process.env.CHUNKS) {
  const stream = (sy.system.engine.redis as unknown as { stream: NodeJS.EventEmitter }).stream;
  stream.prependListener('data', (b: Buffer) => log.push(`${at()} engine connection: chunk of ${b.length} bytes`));
}
const writes = new DurableWrites(own.url);
process.env.REDIS_URL = own.url;
const raw = await startRaw('fetches', 4, writes);
try {
  for (let i = 0; i < 3; i++) await sy.run('chain');
  await new Promise((r) => setTimeout(r, 100));
  log.length = 0;
  await sy.run('chain');
  await new Promise((r) => setTimeout(r, 100));
  summary('switchyard');
  const tree = (tag: string) => {
    let node: FlowJob | undefined;
    for (let i = 0; i < N; i++) {
      const jobId = i === N - 1 ? `root-${tag}` : `${tag}.c${i}`;
      node = { name: `c${i}`, queueName: RAW_QUEUE, data: { i }, opts: rawJobOpts(jobId), ...(node ? { children: [node] } : {}) };
    }
    return node!;
  };
  for (let i = 0; i < 3; i++) await raw.run(tree(`w${i}`), `root-w${i}`);
  await new Promise((r) => setTimeout(r, 100));
  log.length = 0;
  await raw.run(tree('m'), 'root-m');
  await new Promise((r) => setTimeout(r, 100));
  summary('raw floor');
} finally {
  ticking = false;
  await raw.close();
  await writes.close();
  await sy.close();
  await own.destroy();
}
