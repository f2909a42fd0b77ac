/**
 * (b) A sequential chain of 0 ms echo steps. Figure: Switchyard per-step time ÷ the floor's
 * (raw + the awaited writes, lib/durable.ts), target ≤ 1.5; ÷ raw BullMQ's printed beside it.
 * Raw baseline: a FlowProducer tree N deep on one queue, trivial processor, timed from add to
 * root completion; the floor's processor records the attempt and the answer of each step.
 */
import type { FlowJob } from 'bullmq';
import { compareWithRaw } from '../lib/compare.js';
import { RAW_QUEUE, rawJobOpts } from '../lib/raw.js';
import { echoAgent } from '../lib/switchyard.js';
import { fmt } from '../lib/util.js';
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
    // Judged against the floor: raw + the same awaited writes (ADR 005).
    const meetsTarget = (ratio: number) => ratio <= 1.5;
    const {
      syFigure: syPer,
      rawFigure: rawPer,
      ratio,
      afterSubmit,
      floor,
      details,
    } = await compareWithRaw(ctx, {
      name: 'chain',
      agents: { zero: echoAgent(0, CONCURRENCY) },
      workflow: chainWorkflow(n),
      concurrency: CONCURRENCY,
      rawTree: (tag) => rawChain(n, tag),
      timeoutMs: 120_000,
      n,
      unit: 'step',
      sizes: `${n} steps, worker concurrency ${CONCURRENCY} (Switchyard agent "zero", echo latencyMs 0; raw: one queue, trivial processor)`,
      totalsDigits: 1,
      floor: true,
      figure: (medianMs) => medianMs / n,
      formatFigure: (perStep) => `${fmt(perStep, 3)} ms/step`,
      meetsTarget,
    });
    return {
      id: 'b',
      title: `${n}-step sequential chain (0 ms): per-step time`,
      switchyard: `${fmt(syPer, 3)} ms/step`,
      baseline: `${fmt(rawPer, 3)} ms/step (raw nested flow)`,
      ratio,
      ratioAfterSubmit: afterSubmit.ratio,
      floor: { baseline: `${fmt(floor!.figure, 3)} ms/step`, ratio: floor!.ratio },
      target: '≤ 1.5 ÷ floor',
      pass: meetsTarget(floor!.ratio),
      details,
    };
  },
};
