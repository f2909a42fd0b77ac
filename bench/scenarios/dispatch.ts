/**
 * (e) Dispatch latency: from just before submission to the start of the work, one run at a
 * time (no load). Switchyard: `submitAgentTask` (in-process) or `POST /v1/runs` (HTTP, the
 * real express app on a local port) → the provider's `complete` is called. Raw: `queue.add`
 * (in-process) or a minimal express server doing `queue.add` (HTTP) → the worker's processor
 * starts. The floor: the same with the run's state written before `queue.add` and the attempt
 * before the work starts (lib/durable.ts). The sides take turns in blocks. Targets: p50 ≤ 1.5×,
 * p99 ≤ 2× the floor, in-process and over HTTP (÷ raw printed beside them).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import express from 'express';
import { createApp } from '../../src/api/app.js';
import type { Provider } from '../../src/calls/provider.js';
import { DurableWrites } from '../lib/durable.js';
import { startSwitchyard } from '../lib/switchyard.js';
import { Arrivals, fmt, withTimeout } from '../lib/util.js';
import { rawJobOptions, startRawQueue } from './single.js';
import type { BenchContext, Scenario, ScenarioResult } from './types.js';

/** The q-quantile (0..1) of `xs`, nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** When the work for each marker started. */
class Starts extends Arrivals<number> {
  started(marker: string): void {
    this.arrive(marker, performance.now());
  }
}

const listen = (app: express.Express): Promise<{ server: Server; url: string }> =>
  new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });

const closeServer = (server: Server) => new Promise<void>((r) => server.close(() => r()));

export const dispatchScenario: Scenario = {
  id: 'e',
  title: 'dispatch latency (submit → work starts)',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const n = ctx.quick ? 100 : 400;
    const block = 25;
    const syStarts = new Starts();
    const rawStarts = new Starts();
    const floorStarts = new Starts();
    // A provider that notes when it is called; the marker is the task text.
    const noting: Provider = {
      name: 'echo',
      async complete(req) {
        const m = req.messages.at(-1);
        const last = m?.role === 'user' ? m.content : '';
        syStarts.started(last.slice(last.indexOf('#')));
        return { text: 'ok', usage: { inputTokens: 1, outputTokens: 1 }, model: 'instant', stopReason: 'end_turn' };
      },
    };
    const sy = await startSwitchyard({
      name: 'dispatch',
      agents: { one: { provider: 'echo', concurrency: 8, attempts: 1 } },
      workflows: [],
      providerFor: () => noting,
    });
    const raw = await startRawQueue('dispatch', 8, async (job) => {
      rawStarts.started((job.data as { task: string }).task);
      return { status: 'succeeded' };
    });
    // The floor: the run's state written before its job is added, the attempt before the work starts, the answer after.
    const writes = new DurableWrites();
    const floor = await startRawQueue(
      'dispatch-floor',
      8,
      writes.processor((job) => floorStarts.started((job.data as { task: string }).task)),
    );
    // The workspace's request rate is checked on every request (its cost is part of dispatch) but set
    // far above what one machine sends, so no request is refused.
    const syApp = await listen(createApp(sy.system, { bodyLimit: '100kb', apiRate: { perSecond: 1_000_000, burst: 2_000_000 } }));
    const rawExpress = express();
    rawExpress.use(express.json({ limit: '100kb' }));
    rawExpress.post('/jobs', (req, res, next) => {
      raw.queue.add('task', req.body, rawJobOptions(`h${seq++}`)).then((job) => res.status(202).json({ id: job.id }), next);
    });
    rawExpress.post('/floor-jobs', (req, res, next) => {
      const id = `fh${seq++}`;
      writes
        .run(id, JSON.stringify(req.body))
        .then(() => floor.queue.add('task', req.body, rawJobOptions(id)))
        .then((job) => res.status(202).json({ id: job.id }), next);
    });
    const rawApp = await listen(rawExpress);
    let seq = 0;
    let marker = 0;

    const syOnce = async (http: boolean) => {
      const m = `#${marker++}`;
      const t0 = performance.now();
      let id: string;
      if (http) {
        const res = await fetch(`${syApp.url}/v1/runs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ agent: 'one', input: { task: m } }),
        });
        if (res.status !== 202) throw new Error(`POST /v1/runs answered ${res.status}: ${await res.text()}`);
        id = ((await res.json()) as { id: string }).id;
      } else id = (await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'one', { task: m })).id;
      const t1 = await withTimeout(syStarts.wait(m), 30_000, `dispatch of ${m}`);
      await sy.finished(id);
      return t1 - t0;
    };
    const rawOnce = (durable: boolean) => async (http: boolean) => {
      const m = `#${marker++}`;
      const starts = durable ? floorStarts : rawStarts;
      const t0 = performance.now();
      if (http) {
        const path = durable ? 'floor-jobs' : 'jobs';
        const res = await fetch(`${rawApp.url}/${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ task: m }),
        });
        if (res.status !== 202) throw new Error(`raw POST answered ${res.status}`);
        await res.arrayBuffer();
      } else {
        const id = `i${seq++}`;
        if (durable) await writes.run(id, m);
        await (durable ? floor : raw).queue.add('task', { task: m }, rawJobOptions(id));
      }
      const t1 = await withTimeout(starts.wait(m), 30_000, `raw dispatch of ${m}`);
      return t1 - t0;
    };

    const measure = async (http: boolean) => {
      const sides = [syOnce, rawOnce(false), rawOnce(true)];
      const out: number[][] = [[], [], []];
      for (let i = 0; i < Math.max(1, ctx.warmup) * block; i++) for (const side of sides) await side(http);
      // Blocks of each side in turn, the first side rotating.
      for (let b = 0; out[0]!.length < n; b++) {
        for (let k = 0; k < sides.length; k++) {
          const j = (b + k) % sides.length;
          for (let i = 0; i < block; i++) out[j]!.push(await sides[j]!(http));
        }
      }
      return { sw: out[0]!, rw: out[1]!, fw: out[2]! };
    };

    try {
      const inProc = await measure(false);
      const overHttp = await measure(true);
      return dispatchResult(n, `${block}, after ${Math.max(1, ctx.warmup) * block} unmeasured`, [
        { name: 'in-process', ...inProc },
        { name: 'HTTP', ...overHttp },
      ]);
    } finally {
      await Promise.all([closeServer(syApp.server), closeServer(rawApp.server)]);
      await raw.close();
      await floor.close();
      await writes.close();
      await sy.close();
    }
  },
};

/** The result of (e) from each path's latencies (ms) of Switchyard (`sw`), raw (`rw`) and the floor (`fw`); `blocks` describes the blocks. */
function dispatchResult(n: number, blocks: string, paths: { name: string; sw: number[]; rw: number[]; fw: number[] }[]): ScenarioResult {
  const rows = paths.map((r) => {
    const p50 = { sy: quantile(r.sw, 0.5), raw: quantile(r.rw, 0.5), floor: quantile(r.fw, 0.5) };
    const p99 = { sy: quantile(r.sw, 0.99), raw: quantile(r.rw, 0.99), floor: quantile(r.fw, 0.99) };
    return { name: r.name, p50, p99, r50: p50.sy / p50.raw, r99: p99.sy / p99.raw, f50: p50.sy / p50.floor, f99: p99.sy / p99.floor };
  });
  // Judged against the floor: raw + the same awaited writes (ADR 005).
  const pass = rows.every((r) => r.f50 <= 1.5 && r.f99 <= 2);
  const worst = Math.max(...rows.map((r) => r.f50 / 1.5), ...rows.map((r) => r.f99 / 2));
  const cell = (f: (r: (typeof rows)[number]) => string) => rows.map((r) => `${r.name} ${f(r)}`).join('; ');
  return {
    id: 'e',
    title: `dispatch latency, ${n} runs one at a time (p50 / p99)`,
    switchyard: cell((r) => `${fmt(r.p50.sy, 2)} / ${fmt(r.p99.sy, 2)} ms`),
    baseline: cell((r) => `${fmt(r.p50.raw, 2)} / ${fmt(r.p99.raw, 2)} ms`) + ' (raw queue.add → processor)',
    ratio: rows[0]!.r50,
    ratioText: cell((r) => `${fmt(r.r50, 2)} / ${fmt(r.r99, 2)}`),
    floor: {
      baseline: cell((r) => `${fmt(r.p50.floor, 2)} / ${fmt(r.p99.floor, 2)} ms`),
      ratio: rows[0]!.f50,
      ratioText: cell((r) => `${fmt(r.f50, 2)} / ${fmt(r.f99, 2)}`),
    },
    target: 'p50 ≤ 1.5, p99 ≤ 2 ÷ floor',
    pass,
    details: [
      `sizes: ${n} measured dispatches per side and path, in blocks of ${blocks}; agent concurrency 8, a provider that answers at once (raw: worker concurrency 8)`,
      ...rows.map(
        (r) =>
          `${r.name}: Switchyard p50 ${fmt(r.p50.sy, 3)} ms, p99 ${fmt(r.p99.sy, 3)} ms; raw p50 ${fmt(r.p50.raw, 3)} ms, p99 ${fmt(r.p99.raw, 3)} ms; floor p50 ${fmt(r.p50.floor, 3)} ms, p99 ${fmt(r.p99.floor, 3)} ms; ratios ÷ raw ${fmt(r.r50, 2)} / ${fmt(r.r99, 2)}, ÷ floor ${fmt(r.f50, 2)} / ${fmt(r.f99, 2)}`,
      ),
      `worst ratio against its target: ${fmt(worst, 2)} of the allowance`,
    ],
  };
}
