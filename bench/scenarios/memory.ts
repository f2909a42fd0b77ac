/**
 * (g) Redis bytes per retained finished run, against the raw jobs it replaces, both kept for
 * the same retention (3,600 s). Switchyard: K single-step runs (agent tasks), and K 4-step
 * diamonds (a → b, c → d). Raw: K single jobs, and K four-job flows (d over b and c, b over a:
 * BullMQ trees cannot share a child). Figure: the growth of the sum of `MEMORY USAGE` over
 * every key of the side's prefix across the K runs, divided by K (warm-up runs come first, so
 * queue keys that exist once are not counted). Target: ≤ 2× raw, for both shapes.
 */
import { FlowProducer, type FlowJob } from 'bullmq';
import type { Redis } from 'ioredis';
import type { System } from '../../src/system.js';
import { newRedis } from '../lib/redis.js';
import { echoAgent, startSwitchyard } from '../lib/switchyard.js';
import { fmt, withTimeout } from '../lib/util.js';
import { rawJobOptions, startRawQueue, windowed } from './single.js';
import type { BenchContext, Scenario, ScenarioResult } from './types.js';

/** Sum of MEMORY USAGE over the prefix's keys, and per key family (run ids and job ids folded). */
export async function prefixBytes(redis: Redis, prefix: string): Promise<{ total: number; families: Map<string, number> }> {
  const families = new Map<string, number>();
  let total = 0;
  let cursor = '0';
  const pattern = `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    const pipe = redis.pipeline();
    for (const k of found) pipe.memory('USAGE', k, 'SAMPLES', '0');
    const sizes = (await pipe.exec()) ?? [];
    found.forEach((k, i) => {
      const b = Number(sizes[i]?.[1] ?? 0);
      total += b;
      const fam = k
        .slice(prefix.length)
        .replace(/run_[a-z0-9]+/g, '<run>')
        .replace(/\br\d+\b/g, '<tag>')
        .replace(/:\d+$/, ':<id>');
      families.set(fam, (families.get(fam) ?? 0) + b);
    });
  } while (cursor !== '0');
  return { total, families };
}

/** Wait until no job of the system's queues is waiting, active, delayed or waiting for children. */
async function drained(system: System): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const counts = await Promise.all(system.allQueues().map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'waiting-children', 'prioritized')));
    if (counts.every((c) => Object.values(c).every((n) => n === 0))) return;
    if (Date.now() > deadline) throw new Error(`jobs still live: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const DIAMOND = {
  name: 'diamond',
  steps: [
    { id: 'a', agent: 'one', input: { task: 'first' } },
    { id: 'b', agent: 'one', dependsOn: ['a'], input: { task: 'left' } },
    { id: 'c', agent: 'one', dependsOn: ['a'], input: { task: 'right' } },
    { id: 'd', agent: 'one', dependsOn: ['b', 'c'], input: { task: 'join' } },
  ],
};

function rawDiamond(tag: string): FlowJob {
  const job = (id: string, task: string, children?: FlowJob[]): FlowJob => ({
    name: id,
    queueName: 'raw',
    data: { task },
    opts: { ...rawJobOptions(`${tag}.${id}`), failParentOnFailure: true },
    ...(children ? { children } : {}),
  });
  return job('d', 'join', [job('b', 'left', [job('a', 'first')]), job('c', 'right')]);
}

const top = (families: Map<string, number>, before: Map<string, number>, k: number) =>
  [...families.entries()]
    .map(([f, b]) => [f, (b - (before.get(f) ?? 0)) / k] as const)
    .filter(([, b]) => Math.abs(b) >= 1)
    .sort((x, y) => y[1] - x[1])
    .map(([f, b]) => `${f} ${b.toFixed(0)}`)
    .join(', ');

export const memoryScenario: Scenario = {
  id: 'g',
  title: 'Redis bytes per retained finished run',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const k = ctx.quick ? 100 : 500;
    const warm = 20;
    const info = newRedis('switchyard-bench-memory');
    const sy = await startSwitchyard({ name: 'memory', agents: { one: echoAgent(0, 16) }, workflows: [DIAMOND] });
    const raw = await startRawQueue('memory', 16, async (job) => `[one] ${(job.data as { task: string }).task}`);
    const flows = new FlowProducer({ connection: raw.connection, prefix: raw.prefix });
    let seq = 0;
    try {
      const syRuns = async (n: number, submit: (i: number) => Promise<string>) => {
        const ends: Promise<unknown>[] = [];
        await windowed(n, 16, async (i) => {
          const id = await submit(i);
          ends.push(withTimeout(sy.finished(id), 60_000, `run ${id}`));
        });
        await Promise.all(ends);
        await drained(sy.system);
      };
      const rawJobs = async (n: number, add: (tag: string) => Promise<string>) => {
        const ends: Promise<unknown>[] = [];
        await windowed(n, 16, async () => {
          const id = await add(`r${seq++}`);
          ends.push(withTimeout(raw.done(id), 60_000, `raw ${id}`));
        });
        await Promise.all(ends);
      };
      const measure = async (what: string, prefix: string, batch: (n: number) => Promise<void>, settle: () => Promise<void>) => {
        await batch(warm);
        await settle();
        const before = await prefixBytes(info, prefix);
        await batch(k);
        await settle();
        const after = await prefixBytes(info, prefix);
        return { what, perRun: (after.total - before.total) / k, families: top(after.families, before.families, k) };
      };
      const prefix = sy.system.opts.prefix;
      const settleRaw = () => new Promise<void>((r) => setTimeout(r, 100));
      const settleSy = () => drained(sy.system);
      const sySingle = await measure(
        'single',
        prefix,
        (n) => syRuns(n, async (i) => (await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: `task ${i}` })).id),
        settleSy,
      );
      const rawSingle = await measure(
        'single',
        raw.prefix,
        (n) => rawJobs(n, async (tag) => (await raw.queue.add('task', { task: `task ${tag}` }, rawJobOptions(tag))).id!),
        settleRaw,
      );
      const syDiamond = await measure(
        'diamond',
        prefix,
        (n) => syRuns(n, async () => (await sy.system.api.submissions.submitWorkflow(sy.system.scope(), 'diamond', {})).id),
        settleSy,
      );
      const rawDiamondM = await measure('diamond', raw.prefix, (n) => rawJobs(n, async (tag) => (await flows.add(rawDiamond(tag))).job.id!), settleRaw);
      const r1 = sySingle.perRun / rawSingle.perRun;
      const r2 = syDiamond.perRun / rawDiamondM.perRun;
      const pass = r1 <= 2 && r2 <= 2;
      return {
        id: 'g',
        title: `Redis bytes per retained finished run (${k} runs; single step / 4-step diamond)`,
        switchyard: `${fmt(sySingle.perRun, 0)} B / ${fmt(syDiamond.perRun, 0)} B`,
        baseline: `${fmt(rawSingle.perRun, 0)} B / ${fmt(rawDiamondM.perRun, 0)} B (raw job / 4-job flow)`,
        ratio: Math.max(r1, r2),
        ratioText: `${fmt(r1, 2)} / ${fmt(r2, 2)}`,
        target: '≤ 2 each',
        pass,
        details: [
          `sizes: ${warm} warm-up runs, then ${k} measured, per shape and side; retention 3,600 s on both sides; sum of MEMORY USAGE (SAMPLES 0) over the prefix's keys`,
          `Switchyard single-step run, bytes by key family: ${sySingle.families}`,
          `raw job: ${rawSingle.families}`,
          `Switchyard diamond run: ${syDiamond.families}`,
          `raw 4-job flow: ${rawDiamondM.families}`,
        ],
      };
    } finally {
      await flows.close();
      await raw.close();
      await sy.close();
      await info.quit().catch(() => info.disconnect());
    }
  },
};
