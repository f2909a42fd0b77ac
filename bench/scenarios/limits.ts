/**
 * (k) A provider limit shared by two agent types in two processes: R requests a second on one
 * model (declared `rpm: 60 R`), N ≫ R single-step runs, half on an agent served here, half on
 * one served by a worker process. The LLM simulator holds R as providers do (a bucket of R
 * requests refilled continuously, R a second) and answers 429 when a request finds it empty.
 * Figures: makespan ÷ (N / R) (target ≤ 1.05), 429s (0), the most requests that reached the
 * server in any sliding second (≤ R).
 * (l) A token limit T per minute with calls of varied sizes (maxTokens 100 to 800, answers
 * using 60–100% of it): tokens used per minute ÷ T over the run (≥ 0.95), with the LLM
 * simulator holding T as providers do (a token bucket of a minute's capacity, refilled
 * continuously, with OpenAI's rate-limit headers) and answering 429 when a request finds too
 * few tokens in it (0).
 */
import type { SimExchange } from '../../src/simulator/request.js';
import { startSimulator } from '../../src/simulator/server.js';
import { tokens } from '../../src/simulator/text.js';
import { startWorkerProcess, killAllWorkerProcesses } from '../../test/helpers/worker-process.js';
import { startSwitchyard, type SwitchyardBench } from '../lib/switchyard.js';
import { fmt } from '../lib/util.js';
import { startRpmProvider } from '../lib/rpm-provider.js';
import { isTerminalRun } from '../../src/model/run.js';
import type { BenchContext, Scenario, ScenarioResult } from './types.js';

/**
 * Submit one single-step run per agent given, wait until all have finished (polled: some are
 * finished by another process), and return the makespan from the first submission to the
 * last run's `finishedAt`.
 */
async function runAll(sy: SwitchyardBench, agents: string[], task: (i: number) => string): Promise<{ t0: number; makespan: number }> {
  const t0 = Date.now();
  const ids = await Promise.all(
    agents.map(async (agent, i) => (await sy.system.api.submissions.submitAgentTask(sy.system.scope(), agent, { task: task(i) })).id),
  );
  const deadline = Date.now() + 120_000;
  // Polled cheaply (one status field of each run still live, four times a second): this
  // process also serves one agent and the fake provider, whose clock the figures read.
  let live = ids;
  while (live.length) {
    if (Date.now() > deadline) throw new Error(`runs still live after 120 s: ${live.length}`);
    await new Promise((r) => setTimeout(r, 250));
    const statuses = await Promise.all(live.map((id) => sy.system.engine.store.records.status(sy.system.scope(), id)));
    // A run without a status field is compacted: finished.
    live = live.filter((_, i) => statuses[i] !== null && !isTerminalRun(statuses[i]!));
  }
  const runs = await Promise.all(ids.map((id) => sy.system.engine.store.records.get(sy.system.scope(), id)));
  const failed = runs.filter((r) => r!.run.status !== 'succeeded');
  if (failed.length) throw new Error(`${failed.length} runs did not succeed: ${failed[0]!.run.status} ${failed[0]!.run.error ?? ''}`);
  return { t0, makespan: Math.max(...runs.map((r) => Date.parse(r!.run.finishedAt!))) - t0 };
}

/** The smallest, 5th-percentile and median gap between consecutive times (sorted). */
function gapSummary(sorted: number[]): string {
  const gaps = sorted
    .slice(1)
    .map((t, i) => t - sorted[i]!)
    .sort((a, b) => a - b);
  if (gaps.length === 0) return 'none';
  const at = (q: number) => gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))]!;
  return `min ${fmt(gaps[0]!, 1)} ms, p5 ${fmt(at(0.05), 1)}, p50 ${fmt(at(0.5), 1)}, p95 ${fmt(at(0.95), 1)}, max ${fmt(gaps[gaps.length - 1]!, 1)}`;
}

export const rpmScenario: Scenario = {
  id: 'k',
  title: 'a provider rpm shared by two agent types in two processes',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const R = 20;
    const N = ctx.quick ? 100 : 240;
    const provider = await startRpmProvider(R);
    try {
      const agents = {
        near: { provider: 'openai', model: 'gpt-bench', concurrency: 16, attempts: 3 },
        far: { provider: 'openai', model: 'gpt-bench', concurrency: 16, attempts: 3 },
      };
      const providers = { openai: { models: { 'gpt-bench': { rpm: R * 60 } } } };
      const env = { OPENAI_API_KEY: 'bench', OPENAI_BASE_URL: provider.openaiBaseURL };
      const sy = await startSwitchyard({ name: 'limits-rpm', agents, providers, env, workflows: [], pools: { agents: ['near'] } });
      try {
        await startWorkerProcess({
          prefix: sy.prefix,
          agents,
          providers,
          serve: ['far'],
          internal: false,
          fake: { openaiBaseURL: provider.openaiBaseURL, anthropicBaseURL: '' },
        });
        const both = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 ? 'near' : 'far'));
        // Both processes warm first, as long-lived workers are: a process's first HTTP call
        // loads Node's fetch and opens a connection (~50 ms, which alone puts R + 1 calls in
        // a second). Then the limiter and the provider's bucket go idle before the round.
        ctx.log(`  warm-up (${R} calls), then one round (${N} steps at R a second)`);
        await runAll(sy, both(R), (i) => `warm ${i}`);
        await new Promise((r) => setTimeout(r, 1500));
        const before = await provider.report();
        const { t0, makespan } = await runAll(sy, both(N), (i) => `t${i}`);
        const after = await provider.report();
        const times = after.times.slice(before.times.length);
        const refused = after.refused - before.refused;
        const floor = (N / R) * 1000;
        const sorted = [...times].sort((a, b) => a - b);
        let busiest = 0;
        for (let i = 0, j = 0; i < sorted.length; i++) {
          while (sorted[i]! - sorted[j]! >= 1000) j++;
          busiest = Math.max(busiest, i - j + 1);
        }
        // The floor counts N/R seconds (the calls go one per 1/R s, from the first submission):
        // the makespan is judged against N/R.
        const ratio = makespan / floor;
        return {
          id: 'k',
          title: `provider limit of ${R} requests/s (rpm ${R * 60}), ${N} single-step runs on two agent types in two processes: makespan ÷ (N/R)`,
          switchyard: `${fmt(makespan, 0)} ms; ${refused} 429s; busiest second ${busiest}`,
          baseline: `${fmt(floor, 0)} ms (computed: N/R); at most ${R} a second`,
          ratio,
          ratioText: `${fmt(ratio, 2)}; 429s ${refused}; busiest ${busiest}/${R}`,
          target: '≤ 1.05; 0 429s; no second above R',
          pass: ratio <= 1.05 && refused === 0 && busiest <= R,
          details: [
            `${times.length} calls answered at the simulator (${refused} refused with 429)`,
            `first call ${fmt(sorted[0]! - t0, 0)} ms after the first submission, the last run finished ${fmt(t0 + makespan - sorted[sorted.length - 1]!, 0)} ms after the last call; calls spread over ${fmt(sorted[sorted.length - 1]! - sorted[0]!, 0)} ms (${fmt(((sorted.length - 1) * 1000) / R, 0)} at R exactly)`,
            `gaps between calls at the server: ${gapSummary(sorted)}`,
          ],
        };
      } finally {
        await killAllWorkerProcesses();
        await sy.close();
      }
    } finally {
      await provider.close();
    }
  },
};

export const tpmScenario: Scenario = {
  id: 'l',
  title: 'a token limit per minute with calls of varied sizes',
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const T = 60_000; // tokens a minute: 1,000 a second
    const seconds = ctx.quick ? 10 : 20;
    // The answers' sizes are chosen here (60–100% of each call's maxTokens); the simulator holds T.
    const seen: SimExchange[] = [];
    const sim = await startSimulator(
      { port: 0, tpm: T },
      {
        plan(ex) {
          const body = ex.body as { max_completion_tokens?: number; max_tokens?: number };
          const max = Number(body.max_completion_tokens ?? body.max_tokens ?? 100);
          return { text: 'x'.repeat(Math.round(max * (0.6 + 0.4 * Math.random())) * 4) };
        },
        inputTokens: (ex) => tokens(ex.prompt),
        onRequest: (ex) => seen.push(ex),
      },
    );
    try {
      const sizes = [100, 200, 400, 800];
      const agents = Object.fromEntries(sizes.map((m) => [`s${m}`, { provider: 'openai', model: 'gpt-tpm', maxTokens: m, concurrency: 8, attempts: 3 }]));
      const providers = { openai: { models: { 'gpt-tpm': { tpm: T } } } };
      const env = { OPENAI_API_KEY: 'bench', OPENAI_BASE_URL: sim.openaiBaseURL };
      const sy = await startSwitchyard({ name: 'limits-tpm', agents, providers, env, workflows: [] });
      try {
        // Enough work for `seconds` at T: about 1,000 tokens a second, ~330 tokens a call on average.
        const n = Math.ceil(((T / 60) * seconds) / 300);
        ctx.log(`  one round (${n} calls of varied sizes)`);
        const { makespan } = await runAll(
          sy,
          Array.from({ length: n }, (_, i) => `s${sizes[i % sizes.length]}`),
          (i) => `call ${i}`,
        );
        const spent = seen.flatMap((ex) => (ex.answered ? [ex.answered.inputTokens + ex.answered.outputTokens] : []));
        const used = spent.reduce((x, t) => x + t, 0);
        const refused = sim.stats().errors.tpmLimit ?? 0;
        // Tokens used per minute over the run, against T.
        const perMinute = (used / makespan) * 60_000;
        const ratio = perMinute / T;
        return {
          id: 'l',
          title: `token limit of ${T} a minute, ${n} calls of maxTokens ${sizes.join('/')}: tokens used per minute ÷ T`,
          switchyard: `${fmt(perMinute, 0)} tokens/min over ${fmt(makespan / 1000, 1)} s; ${refused} 429s`,
          baseline: `${T} tokens/min (the limit)`,
          ratio,
          ratioText: `${fmt(ratio, 2)}; 429s ${refused}`,
          target: '≥ 0.95; 0 429s',
          pass: ratio >= 0.95 && refused === 0,
          details: [`${spent.length} calls answered, ${used} tokens in all (${refused} refused with 429)`],
        };
      } finally {
        await sy.close();
      }
    } finally {
      await sim.close();
    }
  },
};
