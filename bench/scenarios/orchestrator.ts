/**
 * (i) An orchestrator that delegates 20 parallel calls of L ms each. Its provider takes T ms
 * per turn: the first answer asks for the 20 calls, the second answers. The floor is the work
 * itself, 2 turns + L (computed, as in (a): no raw run exists for this shape). Figure:
 * makespan (submit → run finished) ÷ (2T + L). Target ≤ 1.05.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { EchoProvider } from '../../src/calls/vendors/echo/adapter.js';
import type { Provider } from '../../src/calls/provider.js';
import { loadLine, sampled } from '../lib/measure.js';
import { newRedis } from '../lib/redis.js';
import { echoAgent, startSwitchyard } from '../lib/switchyard.js';
import { fmt, fmtMs, interleaved, median, withTimeout } from '../lib/util.js';
import type { BenchContext, Scenario, ScenarioResult } from './types.js';

const CALLS = 20;
const TURN_MS = 100;
const CHILD_MS = 400;

/** The orchestrator's model: T ms per turn; 20 delegate calls, then an answer once results are in. */
const orchestratorModel: Provider = {
  name: 'echo',
  async complete(req) {
    await delay(TURN_MS, undefined, { signal: req.signal });
    const usage = { inputTokens: 10, outputTokens: 10 };
    if (req.messages.at(-1)?.role === 'tool') return { text: 'synthesis', usage, model: 'bench', stopReason: 'end_turn' };
    const toolCalls = Array.from({ length: CALLS }, (_, i) => ({ id: `c${i}`, name: 'delegate', input: { agent: 'worker', task: `part ${i}` } }));
    return { text: '', usage, model: 'bench', stopReason: 'tool_use', toolCalls };
  },
};

export const orchestratorScenario: Scenario = {
  id: 'i',
  title: 'orchestrator delegating 20 parallel calls',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const worker = new EchoProvider({ latencyMs: CHILD_MS });
    const sy = await startSwitchyard({
      name: 'orchestrator',
      agents: { lead: { provider: 'echo', delegates: ['worker'], orchestration: { maxDelegations: CALLS }, attempts: 1 }, worker: echoAgent(CHILD_MS, CALLS) },
      workflows: [],
      providerFor: (agent) => (agent === 'lead' ? orchestratorModel : worker),
    });
    const info = newRedis('switchyard-bench-info');
    const floor = 2 * TURN_MS + CHILD_MS;
    try {
      // Where the overhead goes, from the step records (ms timestamps): submit → first turn
      // done → delegates started, and last delegate done → second turn done.
      const phases: { toChildren: number[]; childSpread: number[]; toEnd: number[] } = { toChildren: [], childSpread: [], toEnd: [] };
      const round = async () => {
        const t0 = performance.now();
        const wall0 = Date.now();
        const { id } = await sy.system.api.submissions.submitAgentTask(sy.system.scope(), 'lead', { task: 'split the work' });
        const end = await withTimeout(sy.finished(id), 60_000, `run ${id}`);
        const run = await sy.system.api.queries.get(sy.system.scope(), id);
        const kids = run.steps.filter((st) => st.parent === 'lead');
        const starts = kids.map((k) => Date.parse(k.startedAt!));
        const lastEnd = Math.max(...kids.map((k) => Date.parse(k.finishedAt!)));
        phases.toChildren.push(Math.min(...starts) - wall0 - TURN_MS);
        phases.childSpread.push(Math.max(...starts) - Math.min(...starts));
        phases.toEnd.push(Date.parse(run.finishedAt!) - lastEnd - TURN_MS);
        return end.t - t0;
      };
      const { sw } = await interleaved(ctx, () => sampled(info, round));
      const med = (xs: number[]) => fmt(median(xs.slice(-sw.length)), 0);
      const makespans = sw.map((s) => s.value);
      const m = median(makespans);
      const ratio = m / floor;
      return {
        id: 'i',
        title: `orchestrator: ${CALLS} parallel delegations of ${CHILD_MS} ms, turns of ${TURN_MS} ms: makespan ÷ (2 turns + L)`,
        switchyard: fmtMs(m),
        baseline: `${floor} ms (computed: 2 × ${TURN_MS} + ${CHILD_MS})`,
        ratio,
        target: '≤ 1.05',
        pass: ratio <= 1.05,
        details: [
          `makespans (ms): ${makespans.map((x) => x.toFixed(0)).join(', ')}; overhead ${fmt(m - floor, 0)} ms over the floor`,
          `medians beside the model and delegate time: submit → first delegate started ${med(phases.toChildren)} ms (submit, first turn's record, adding 20 steps); first → last delegate started ${med(phases.childSpread)} ms; last delegate done → run finished ${med(phases.toEnd)} ms (resume, second turn's record, run finish)`,
          loadLine('Switchyard load', sw, { n: CALLS + 1, unit: 'step' }),
        ],
      };
    } finally {
      await info.quit().catch(() => info.disconnect());
      await sy.close();
    }
  },
};
