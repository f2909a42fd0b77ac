/**
 * (j) A refinement loop of 5 iterations (draft + critique each, both answered at once, the
 * critic never approving), beside a raw BullMQ two-job chain (a FlowProducer parent with one
 * child, trivial processor). Figure: the loop's time per iteration ÷ the raw chain's time,
 * both with no LLM time at all, so what is measured is the engine's overhead per iteration
 * (two steps, two waits of the loop without a worker slot, its two resumes). Reported; the
 * issue sets no target for it.
 */
import type { Provider } from '../../src/calls/provider.js';
import { loadLine, sampled } from '../lib/measure.js';
import { startRaw, rawJobOpts, RAW_QUEUE } from '../lib/raw.js';
import { newRedis } from '../lib/redis.js';
import { instantProvider, startSwitchyard } from '../lib/switchyard.js';
import { fmt, fmtMs, interleaved, median, withTimeout } from '../lib/util.js';
import type { BenchContext, Scenario, ScenarioResult } from './types.js';

const ITERATIONS = 5;

/** Answers at once; asked for the verdict (a forced `answer` tool), it never approves. */
const critic: Provider = {
  name: 'echo',
  async complete() {
    const usage = { inputTokens: 1, outputTokens: 1 };
    return {
      text: '',
      usage,
      model: 'instant',
      stopReason: 'tool_use',
      toolCalls: [{ id: 'v', name: 'answer', input: { approved: false, score: 1, feedback: 'again' } }],
    };
  },
};

export const loopScenario: Scenario = {
  id: 'j',
  title: 'refinement loop: overhead per iteration',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const sy = await startSwitchyard({
      name: 'loop',
      agents: { writer: { provider: 'echo', attempts: 1 }, critic: { provider: 'echo', attempts: 1 } },
      workflows: [
        {
          name: 'bench-loop',
          steps: [{ id: 'refine', kind: 'loop', body: { agent: 'writer', input: { task: 'draft' } }, critic: { agent: 'critic' }, maxIterations: ITERATIONS }],
        },
      ],
      providerFor: (agent) => (agent === 'critic' ? critic : instantProvider),
    });
    const raw = await startRaw('loop', 4);
    const info = newRedis('switchyard-bench-info');
    let seq = 0;
    try {
      const syRound = async () => (await sy.run('bench-loop', {}, 60_000)).ms / ITERATIONS;
      const rawRound = async () => {
        const id = `root-${seq++}`;
        const { ms } = await withTimeout(
          raw.run(
            { name: 'parent', queueName: RAW_QUEUE, opts: rawJobOpts(id), children: [{ name: 'child', queueName: RAW_QUEUE, opts: rawJobOpts(`c-${id}`) }] },
            id,
          ),
          30_000,
          id,
        );
        return ms;
      };
      const res = await interleaved(
        ctx,
        () => sampled(info, syRound),
        () => sampled(info, rawRound),
      );
      const per = median(res.sw.map((s) => s.value));
      const chain = median(res.raw.map((s) => s.value));
      const ratio = per / chain;
      return {
        id: 'j',
        title: `refinement loop, ${ITERATIONS} iterations, no LLM time: per iteration ÷ a raw two-job chain`,
        switchyard: `${fmtMs(per)} per iteration`,
        baseline: `${fmtMs(chain)} (raw parent + child flow)`,
        ratio,
        target: 'reported (no target)',
        pass: true,
        details: [
          `Switchyard per iteration (ms): ${res.sw.map((s) => s.value.toFixed(1)).join(', ')}; raw chain (ms): ${res.raw.map((s) => s.value.toFixed(1)).join(', ')}`,
          `an iteration is two steps (draft, critique), each added by the loop, which waits for it without a worker slot and resumes: ${fmt(per / 2, 1)} ms per step`,
          loadLine('Switchyard load', res.sw, { n: ITERATIONS, unit: 'iteration' }),
          loadLine('raw load', res.raw, { n: 1, unit: 'chain' }),
        ],
      };
    } finally {
      await info.quit().catch(() => info.disconnect());
      await raw.close();
      await sy.close();
    }
  },
};
