/**
 * (h) A 10,000-way fan-out joined by one step: children per second against the raw flow (as
 * (c), ten times wider), and the longest single Redis command of each side meanwhile (SLOWLOG,
 * with the threshold lowered to 1 ms for the scenario and restored after; the bench's own
 * deletion of each side's keys, once measured, is left out). Targets: ≥ 0.7 of
 * raw, and no Switchyard command longer than 5 ms. Commands inside MULTI/EXEC are logged one by
 * one (EXEC itself is not: a FlowProducer.add of 10,000 jobs is one transaction on both sides).
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import type { FlowJob } from 'bullmq';
import { luaSource } from '../../src/store/scripts/script.js';
import { compareWithRaw } from '../lib/compare.js';
import { RAW_QUEUE, rawJobOpts } from '../lib/raw.js';
import { CLEANUP_CLIENT, newRedis } from '../lib/redis.js';
import { echoAgent } from '../lib/switchyard.js';
import { fmt } from '../lib/util.js';
import type { BenchContext, Scenario, ScenarioResult } from './types.js';

const CONCURRENCY = 50;

function fanWorkflow(n: number) {
  const id = (i: number) => `f${String(i).padStart(5, '0')}`;
  const children = Array.from({ length: n }, (_, i) => ({ id: id(i), agent: 'fan', input: { task: `child ${i}` } }));
  return { name: 'bench-bigfan', steps: [...children, { id: 'join', agent: 'fan', input: { task: 'join' }, dependsOn: children.map((c) => c.id) }] };
}

function rawFan(n: number, tag: string): { tree: FlowJob; rootId: string } {
  const rootId = `root-${tag}`;
  return {
    rootId,
    tree: {
      name: 'join',
      queueName: RAW_QUEUE,
      data: {},
      opts: rawJobOpts(rootId),
      children: Array.from({ length: n }, (_, i) => ({ name: `f${i}`, queueName: RAW_QUEUE, data: { i }, opts: rawJobOpts(`${tag}.f${i}`) })),
    },
  };
}

/** Our scripts by SHA (as Redis sees them), to name them in the slow log. */
function ourScripts(): Map<string, string> {
  const dirs = ['../../src/store/scripts/lua/', '../../src/calls/admission/lua/'].map((d) => new URL(d, import.meta.url));
  return new Map(
    dirs.flatMap((dir) =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.lua'))
        .map((f) => f.slice(0, -4))
        .map((n) => [createHash('sha1').update(luaSource(n, dir)).digest('hex'), n] as const),
    ),
  );
}

interface SlowEntry {
  id: number;
  us: number;
  what: string;
  side: 'switchyard' | 'raw' | 'other';
}

export const bigFanScenario: Scenario = {
  id: 'h',
  title: '10,000-way fan-out: throughput and the longest Redis command',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const n = ctx.quick ? 2000 : 10_000;
    const redis = newRedis('switchyard-bench-slowlog');
    const [, threshold] = (await redis.config('GET', 'slowlog-log-slower-than')) as [string, string];
    const [, maxLen] = (await redis.config('GET', 'slowlog-max-len')) as [string, string];
    const scripts = ourScripts();
    const entries: SlowEntry[] = [];
    try {
      await redis.config('SET', 'slowlog-log-slower-than', '1000');
      await redis.config('SET', 'slowlog-max-len', '100000');
      const head = (await redis.call('SLOWLOG', 'GET', '1')) as [number][];
      const since = head[0]?.[0] ?? -1;
      const meets = (ratio: number) => ratio >= 0.7;
      const cmp = await compareWithRaw(
        { ...ctx, reps: Math.min(ctx.reps, 3), warmup: Math.min(ctx.warmup, 1), profile: false },
        {
          name: 'bigfan',
          agents: { fan: echoAgent(0, CONCURRENCY) },
          workflow: fanWorkflow(n),
          concurrency: CONCURRENCY,
          rawTree: (tag) => rawFan(n, tag),
          timeoutMs: 600_000,
          n,
          unit: 'child',
          sizes: `${n} children + 1 join, worker concurrency ${CONCURRENCY} (echo latencyMs 0; raw: one queue, trivial processor)`,
          totalsDigits: 0,
          showCompile: true,
          figure: (medianMs) => n / (medianMs / 1000),
          formatFigure: (rate) => `${fmt(rate, 0)} children/s`,
          meetsTarget: () => true, // no profiling pass: its extra runs would fill the slow log
        },
      );
      // Each entry: id, time, µs, arguments, client address, client name.
      const log = (await redis.call('SLOWLOG', 'GET', '-1')) as [number, number, number, string[], string, string][];
      let cleanups = 0;
      for (const [id, , us, args, , client] of log) {
        if (id <= since) continue;
        // The bench deleting a side's keys once measured (lib/redis.ts' cleanupPrefix) is neither side's command.
        if (client === CLEANUP_CLIENT) {
          cleanups++;
          continue;
        }
        const text = args.join(' ');
        const side = text.includes('{bench-sy-bigfan') ? 'switchyard' : text.includes('{bench-raw-bigfan') ? 'raw' : 'other';
        const cmd = args[0]?.toLowerCase() ?? '?';
        // EVAL sends a script's text (the first time on a server): the slow log keeps its first 128 characters.
        const what =
          cmd === 'evalsha'
            ? scripts.has(args[1] ?? '')
              ? `script ${scripts.get(args[1]!)}`
              : `BullMQ script (first key ${(args[3] ?? '').replace(/\{[^}]*\}/, '')})`
            : cmd === 'eval'
              ? `eval "${(args[1] ?? '').replace(/\s+/g, ' ').slice(0, 60)}..."`
              : cmd;
        entries.push({ id, us, what, side });
      }
      const of = (side: SlowEntry['side']) => entries.filter((e) => e.side === side).sort((a, b) => b.us - a.us);
      const sy = of('switchyard');
      const raw = of('raw');
      const maxMs = (xs: SlowEntry[]) => (xs[0]?.us ?? 0) / 1000;
      const ours = sy.filter((e) => e.what.startsWith('script '));
      const ratio = cmp.ratio;
      const pass = meets(ratio) && maxMs(sy) <= 5;
      const summary = (xs: SlowEntry[]) => {
        const by = new Map<string, { count: number; max: number }>();
        for (const e of xs) {
          const r = by.get(e.what) ?? { count: 0, max: 0 };
          r.count++;
          r.max = Math.max(r.max, e.us);
          by.set(e.what, r);
        }
        return (
          [...by.entries()]
            .sort((a, b) => b[1].max - a[1].max)
            .slice(0, 6)
            .map(([w, r]) => `${w}: ${r.count} over 1 ms, longest ${(r.max / 1000).toFixed(1)} ms`)
            .join('; ') || 'none'
        );
      };
      return {
        id: 'h',
        title: `${n}-way fan-out + join: children per second; longest Redis command`,
        switchyard: `${fmt(cmp.syFigure, 0)} children/s; longest command ${fmt(maxMs(sy), 1)} ms`,
        baseline: `${fmt(cmp.rawFigure, 0)} children/s; longest ${fmt(maxMs(raw), 1)} ms (raw flow)`,
        ratio,
        ratioText: `${fmt(ratio, 2)}; ${fmt(maxMs(sy), 1)} ms`,
        ratioAfterSubmit: cmp.afterSubmit.ratio,
        target: '≥ 0.7; ≤ 5 ms',
        pass,
        details: [
          ...cmp.details,
          `slow log (over 1 ms) of Switchyard's prefix: ${summary(sy)}`,
          `of which Switchyard's own scripts: longest ${fmt(maxMs(ours), 1)} ms`,
          `slow log of the raw prefix: ${summary(raw)}`,
          `left out: ${cleanups} command(s) over 1 ms of the bench deleting the sides' keys after they were measured`,
        ],
      };
    } finally {
      await redis.config('SET', 'slowlog-log-slower-than', threshold);
      await redis.config('SET', 'slowlog-max-len', maxLen);
      await redis.quit().catch(() => redis.disconnect());
    }
  },
};
