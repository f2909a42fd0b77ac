/**
 * (c) A fan-out of N 0 ms echo steps joined by one step. Figure: children per second,
 * Switchyard ÷ raw BullMQ, target ≥ 0.5. Raw baseline: one FlowProducer parent with N
 * children on one queue, trivial processor, same worker concurrency; both timed from add to
 * root completion.
 */
import type { FlowJob } from 'bullmq';
import { compareWithRaw } from '../lib/compare.js';
import { RAW_QUEUE, rawJobOpts } from '../lib/raw.js';
import { echoAgent } from '../lib/switchyard.js';
import { fmt } from '../lib/util.js';
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
    const meetsTarget = (ratio: number) => ratio >= 0.5;
    const {
      syFigure: syRate,
      rawFigure: rawRate,
      ratio,
      afterSubmit,
      details,
    } = await compareWithRaw(ctx, {
      name: 'fan',
      agents: { fan: echoAgent(0, c) },
      workflow: fanWorkflow(n),
      concurrency: c,
      rawTree: (tag) => rawFan(n, tag),
      timeoutMs: 300_000,
      n,
      unit: 'child',
      sizes: `${n} children + 1 join, worker concurrency ${c} (Switchyard agent "fan", echo latencyMs 0; raw: one queue, trivial processor)`,
      totalsDigits: 0,
      showCompile: true,
      figure: (medianMs) => n / (medianMs / 1000),
      formatFigure: (rate) => `${fmt(rate, 0)} children/s`,
      meetsTarget,
    });
    return {
      id: 'c',
      title: `${n}-way fan-out + join (0 ms): children per second`,
      switchyard: `${fmt(syRate, 0)} children/s`,
      baseline: `${fmt(rawRate, 0)} children/s (raw flow)`,
      ratio,
      ratioAfterSubmit: afterSubmit.ratio,
      target: '≥ 0.5',
      pass: meetsTarget(ratio),
      details,
    };
  },
};
