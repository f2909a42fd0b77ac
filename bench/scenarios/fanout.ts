/**
 * (c) A fan-out of N 0 ms echo steps joined by one step. Figure: children per second,
 * Switchyard ÷ raw BullMQ, target ≥ 0.5. Raw baseline: one FlowProducer parent with N
 * children on one queue, trivial processor, same worker concurrency; both timed from add to
 * root completion.
 */
import type { FlowJob } from 'bullmq';
import { loadLine, sampled, type Sample } from '../lib/measure.js';
import { cpuProfile, describeCommands, startCommandCount } from '../lib/profile.js';
import { RAW_QUEUE, rawJobOpts, startRaw } from '../lib/raw.js';
import { newRedis } from '../lib/redis.js';
import { echoAgent, instantProvider, startSwitchyard } from '../lib/switchyard.js';
import { fmt, interleaved, median } from '../lib/util.js';
import type { BenchContext, Scenario, ScenarioResult } from './types.js';

export const FANOUT_CONCURRENCY = 50;

function fanWorkflow(n: number) {
  const id = (i: number) => `f${String(i).padStart(4, '0')}`;
  const children = Array.from({ length: n }, (_, i) => ({ id: id(i), agent: 'fan', input: { task: `child ${i}` } }));
  return {
    name: 'bench-fan',
    steps: [...children, { id: 'join', agent: 'fan', input: { task: 'join' }, dependsOn: children.map((c) => c.id) }],
  };
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

export const fanoutScenario: Scenario = {
  id: 'c',
  title: 'fan-out + join throughput',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const n = ctx.quick ? 200 : 1000;
    const c = FANOUT_CONCURRENCY;
    const sy = await startSwitchyard({ name: 'fan', agents: { fan: echoAgent(0, c) }, workflows: [fanWorkflow(n)] });
    const raw = await startRaw('fan', c);
    const info = newRedis('switchyard-bench-info');
    let seq = 0;
    const rawOnce = () => {
      const { tree, rootId } = rawFan(n, `r${seq++}`);
      return raw.run(tree, rootId);
    };
    try {
      const res = await interleaved(
        ctx,
        () => sampled(info, (mark) => sy.run('bench-fan', {}, 300_000, mark)),
        () => sampled(info, rawOnce),
        ctx.log,
      );
      const syMs = res.sw.map((s) => s.value.ms);
      const rawMs = res.raw.map((s) => s.value.ms);
      const syRate = n / (median(syMs) / 1000);
      const rawRate = n / (median(rawMs) / 1000);
      const ratio = syRate / rawRate;
      const details = [
        `sizes: ${n} children + 1 join, worker concurrency ${c} (Switchyard agent "fan", echo latencyMs 0; raw: one queue, trivial processor)`,
        `Switchyard totals (ms): ${syMs.map((x) => x.toFixed(0)).join(', ')}; submit (createRun + add) median ${fmt(median(res.sw.map((s) => s.value.submitMs)), 1)} ms; compile (once, at start-up) ${fmt(sy.compileMs.get('bench-fan')!, 1)} ms`,
        `raw totals (ms): ${rawMs.map((x) => x.toFixed(0)).join(', ')}; FlowProducer.add median ${fmt(median(res.raw.map((s) => s.value.addMs)), 1)} ms`,
        loadLine('Switchyard load', res.sw as Sample<unknown>[], { n, unit: 'child' }),
        loadLine('raw load', res.raw as Sample<unknown>[], { n, unit: 'child' }),
      ];

      if (ratio < 0.5 || ctx.profile) {
        ctx.log('  profiling');
        const c1 = startCommandCount();
        await sy.run('bench-fan', {}, 300_000, () => c1.stop());
        const syStats = c1.stop();
        const c2 = startCommandCount();
        await rawOnce();
        const rawStats = c2.stop();
        details.push(
          `round trips per child: Switchyard ${fmt(syStats.roundTrips / n, 2)} (${fmt(syStats.commands / n, 2)} commands), raw ${fmt(rawStats.roundTrips / n, 2)} (${fmt(rawStats.commands / n, 2)} commands)`,
          'Switchyard commands per child:',
          ...describeCommands(syStats, n).map((l) => `  ${l}`),
          'raw commands per child:',
          ...describeCommands(rawStats, n, 6).map((l) => `  ${l}`),
        );
        const inst = await startSwitchyard({ name: 'fan-instant', agents: { fan: echoAgent(0, c) }, workflows: [fanWorkflow(n)], providerFor: () => instantProvider });
        try {
          await inst.run('bench-fan', {}, 300_000);
          const t: number[] = [];
          for (let i = 0; i < ctx.reps; i++) t.push((await inst.run('bench-fan', {}, 300_000)).ms);
          const rate = n / (median(t) / 1000);
          details.push(`Switchyard with an instant provider (no echo timer): ${fmt(rate, 0)} children/s → ratio ${fmt(rate / rawRate, 2)}`);
        } finally {
          await inst.close();
        }
        const prof = await cpuProfile(() => sy.run('bench-fan', {}, 300_000));
        details.push('cpu profile of one Switchyard run:', ...prof.lines.map((l) => `  ${l}`));
        const rprof = await cpuProfile(rawOnce);
        details.push('cpu profile of one raw run:', ...rprof.lines.slice(0, 8).map((l) => `  ${l}`));
      }
      return {
        id: 'c',
        title: `${n}-way fan-out + join (0 ms): children per second`,
        switchyard: `${fmt(syRate, 0)} children/s`,
        baseline: `${fmt(rawRate, 0)} children/s (raw flow)`,
        ratio,
        target: '≥ 0.5',
        pass: ratio >= 0.5,
        details,
      };
    } finally {
      await info.quit().catch(() => info.disconnect());
      await raw.close();
      await sy.close();
    }
  },
};
