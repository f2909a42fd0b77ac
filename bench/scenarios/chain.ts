/**
 * (b) A sequential chain of 0 ms echo steps. Figure: Switchyard per-step time ÷ raw BullMQ
 * per-step time, target ≤ 2. Raw baseline: a FlowProducer tree N deep on one queue, trivial
 * processor, timed from add to root completion.
 */
import type { FlowJob } from 'bullmq';
import { loadLine, sampled, type Sample } from '../lib/measure.js';
import { cpuProfile, describeCommands, startCommandCount } from '../lib/profile.js';
import { RAW_QUEUE, rawJobOpts, startRaw } from '../lib/raw.js';
import { newRedis } from '../lib/redis.js';
import { echoAgent, instantProvider, startSwitchyard } from '../lib/switchyard.js';
import { fmt, interleaved, median } from '../lib/util.js';
import type { BenchContext, Scenario, ScenarioResult } from './types.js';

const CONCURRENCY = 4;

function chainWorkflow(n: number) {
  const id = (i: number) => `c${String(i).padStart(3, '0')}`;
  return {
    name: 'bench-chain',
    steps: Array.from({ length: n }, (_, i) => ({ id: id(i), agent: 'zero', input: { task: `step ${i}` }, dependsOn: i ? [id(i - 1)] : [] })),
  };
}

/** Nested raw flow: the root is the last step, the deepest child the first. */
function rawChain(n: number, tag: string): { tree: FlowJob; rootId: string } {
  let node: FlowJob | undefined;
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    const jobId = last ? `root-${tag}` : `${tag}.c${i}`;
    node = { name: `c${i}`, queueName: RAW_QUEUE, data: { i }, opts: rawJobOpts(jobId), ...(node ? { children: [node] } : {}) };
  }
  return { tree: node!, rootId: `root-${tag}` };
}

export const chainScenario: Scenario = {
  id: 'b',
  title: 'sequential chain per-step time',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const n = ctx.quick ? 50 : 200;
    const sy = await startSwitchyard({ name: 'chain', agents: { zero: echoAgent(0, CONCURRENCY) }, workflows: [chainWorkflow(n)] });
    const raw = await startRaw('chain', CONCURRENCY);
    const info = newRedis('switchyard-bench-info');
    let seq = 0;
    const rawOnce = () => {
      const { tree, rootId } = rawChain(n, `r${seq++}`);
      return raw.run(tree, rootId);
    };
    try {
      const res = await interleaved(
        ctx,
        () => sampled(info, (mark) => sy.run('bench-chain', {}, 120_000, mark)),
        () => sampled(info, rawOnce),
        ctx.log,
      );
      const syMs = res.sw.map((s) => s.value.ms);
      const rawMs = res.raw.map((s) => s.value.ms);
      const syPer = median(syMs) / n;
      const rawPer = median(rawMs) / n;
      const ratio = syPer / rawPer;
      const details = [
        `sizes: ${n} steps, worker concurrency ${CONCURRENCY} (Switchyard agent "zero", echo latencyMs 0; raw: one queue, trivial processor)`,
        `Switchyard totals (ms): ${syMs.map((x) => x.toFixed(1)).join(', ')}; submit (createRun + add) median ${fmt(median(res.sw.map((s) => s.value.submitMs)), 1)} ms`,
        `raw totals (ms): ${rawMs.map((x) => x.toFixed(1)).join(', ')}; FlowProducer.add median ${fmt(median(res.raw.map((s) => s.value.addMs)), 1)} ms`,
        loadLine('Switchyard load', res.sw as Sample<unknown>[], { n, unit: 'step' }),
        loadLine('raw load', res.raw as Sample<unknown>[], { n, unit: 'step' }),
      ];

      if (ratio > 2 || ctx.profile) {
        ctx.log('  profiling');
        const c1 = startCommandCount();
        await sy.run('bench-chain', {}, 120_000, () => c1.stop());
        const syStats = c1.stop();
        const c2 = startCommandCount();
        await rawOnce();
        const rawStats = c2.stop();
        details.push(
          `round trips per step: Switchyard ${fmt(syStats.roundTrips / n, 2)} (${fmt(syStats.commands / n, 2)} commands), raw ${fmt(rawStats.roundTrips / n, 2)} (${fmt(rawStats.commands / n, 2)} commands)`,
          'Switchyard commands per step:',
          ...describeCommands(syStats, n).map((l) => `  ${l}`),
          'raw commands per step:',
          ...describeCommands(rawStats, n, 6).map((l) => `  ${l}`),
        );
        // Same engine, provider answering without a timer: isolates echo's setTimeout(0).
        const inst = await startSwitchyard({ name: 'chain-instant', agents: { zero: echoAgent(0, CONCURRENCY) }, workflows: [chainWorkflow(n)], providerFor: () => instantProvider });
        try {
          await inst.run('bench-chain');
          const t: number[] = [];
          for (let i = 0; i < ctx.reps; i++) t.push((await inst.run('bench-chain')).ms);
          details.push(`Switchyard with an instant provider (no echo timer): ${fmt(median(t) / n, 3)} ms/step → ratio ${fmt(median(t) / n / rawPer, 2)}`);
        } finally {
          await inst.close();
        }
        const prof = await cpuProfile(() => sy.run('bench-chain', {}, 120_000));
        details.push('cpu profile of one Switchyard run:', ...prof.lines.map((l) => `  ${l}`));
        const rprof = await cpuProfile(rawOnce);
        details.push('cpu profile of one raw run:', ...rprof.lines.slice(0, 8).map((l) => `  ${l}`));
      }
      return {
        id: 'b',
        title: `${n}-step sequential chain (0 ms): per-step time`,
        switchyard: `${fmt(syPer, 3)} ms/step`,
        baseline: `${fmt(rawPer, 3)} ms/step (raw nested flow)`,
        ratio,
        target: '≤ 2',
        pass: ratio <= 2,
        details,
      };
    } finally {
      await info.quit().catch(() => info.disconnect());
      await raw.close();
      await sy.close();
    }
  },
};
