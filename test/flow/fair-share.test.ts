/**
 * Fair sharing of an agent pool among workspaces, on the real engine and Redis: the real OpenAI
 * SDK against the fake server answering each step in 100 ms, a pool of two. Workspace `a` fans
 * out 2,000 steps; `b` then submits one step, which starts within about two pool-widths of
 * `a`'s steps (counted from the step records); then `b`, `c` and `d` keep submitting and `a`
 * keeps its turn among them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunState } from '../../src/store/run-store.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

const STEP_MS = 100;
const WIDTH = 2;
const half = (id: string, items: string) => ({
  id,
  kind: 'forEach',
  items,
  maxItems: 1000,
  step: { agent: 'pool', input: { task: `A {{index}} [[delay:${STEP_MS}]]` } },
});

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'fair-share',
    fake,
    agents: { pool: { provider: 'openai', model: 'gpt-pool', concurrency: WIDTH, attempts: 1 } },
    workflows: [{ name: 'fan-out', input: { a: { type: 'array' }, b: { type: 'array' } }, steps: [half('left', '{{input.a}}'), half('right', '{{input.b}}')] }],
    env: { SWITCHYARD_MAX_STEPS: '3000' },
  });
});

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

// The records as the store keeps them (the run's view would also look at 2,000 jobs' locks).
type RunView = RunState['run'] & { steps: RunState['steps'] };
async function get(ws: string, id: string): Promise<RunView> {
  const state = (await h.system.api.store.records.get(h.system.scope(ws), id))!;
  return { ...state.run, steps: state.steps };
}
const ms = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : Infinity);
const agentSteps = (run: RunView) => run.steps.filter((s) => s.agent === 'pool');
const startedBetween = (run: RunView, from: number, to: number) => agentSteps(run).filter((s) => ms(s.startedAt) > from && ms(s.startedAt) < to).length;

async function submitOne(ws: string, task: string): Promise<string> {
  return (await h.system.api.submissions.submitAgentTask(h.system.scope(ws), 'pool', { task: `${task} [[delay:${STEP_MS}]]` })).id;
}

async function finished(ws: string, id: string): Promise<RunView> {
  await poll(
    `run ${id} of ${ws} finished`,
    async () => (await get(ws, id)).status,
    (s) => s === 'succeeded' || s === 'failed' || s === 'cancelled',
    {
      timeoutMs: 30_000,
    },
  );
  return get(ws, id);
}

describe('fair sharing of an agent pool among workspaces', () => {
  it("starts another workspace's one step within about two pool-widths of a 2,000-step fan-out, and the fan-out keeps its turn among newcomers", async () => {
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const { id: big } = await h.system.api.submissions.submitWorkflow(h.system.scope('a'), 'fan-out', { a: items, b: items });
    // Every one of a's 2,000 steps is queued, and a few have started.
    await poll(
      "a's fan-out queued and under way",
      async () => {
        const steps = agentSteps(await get('a', big));
        return { queued: steps.length, started: steps.filter((s) => s.startedAt).length };
      },
      (c) => c.queued === 2000 && c.started >= 3 * WIDTH,
      { timeoutMs: 30_000 },
    );

    // Counted from when b's job is in its queue (the submission has returned): what came before
    // is the submission's own time, which a loaded machine stretches.
    const id = await submitOne('b', 'B alone');
    const queuedAt = Date.now();
    const lone = await finished('b', id);
    const startedAt = ms(lone.steps[0]!.startedAt);
    const a = await get('a', big);
    const ahead = startedBetween(a, queuedAt, startedAt);
    console.info(
      `fairness: ${ahead} of a's steps started between b's job queued and b's start (${startedBetween(a, ms(lone.createdAt), startedAt)} since b's submit began); ` +
        `b waited ${((startedAt - queuedAt) / STEP_MS).toFixed(2)} step durations after its job was queued (${((startedAt - ms(lone.createdAt)) / STEP_MS).toFixed(2)} after its submit began)`,
    );
    expect(ahead).toBeLessThanOrEqual(2 * WIDTH);

    // Newcomers keep arriving: b, c and d each keep two runs in flight for a while.
    const windowStart = Date.now();
    const newcomers = ['b', 'c', 'd'];
    const done: RunView[] = [];
    await Promise.all(
      newcomers.flatMap((ws) =>
        [0, 1].map(async (lane) => {
          for (let i = 0; i < 4; i++) done.push(await finished(ws, await submitOne(ws, `${ws} ${lane}.${i}`)));
        }),
      ),
    );
    const windowEnd = Math.max(...done.map((r) => ms(r.steps[0]!.startedAt)));
    const theirs = done.filter((r) => ms(r.steps[0]!.startedAt) > windowStart).length;
    const ours = startedBetween(await get('a', big), windowStart, windowEnd);
    console.info(`no starvation: while b, c, d submitted ${done.length} steps, a started ${ours} and they started ${theirs}`);
    // Four workspaces with a backlog: a's fair share is a quarter of the starts; never starved.
    expect(ours).toBeGreaterThanOrEqual(Math.floor((ours + theirs) / 4) - WIDTH);
    expect(ours).toBeGreaterThan(0);

    await h.system.api.actions.cancel(h.system.scope('a'), big);
    await finished('a', big).catch(() => undefined);
  }, 90_000);
});
