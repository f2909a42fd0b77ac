/**
 * Budgets: a run that spends past a limit (cost, tokens, steps; from the request or its
 * workflow) halts as budget_exceeded, keeping what it recorded; 80% of a limit is a
 * budget.warning event. Token and cost limits are held before each call: its estimate is
 * reserved first, so a call that would pass the budget is never made, and a fan-out cannot
 * overshoot by its width.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { keys } from '../../src/store/keys.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { startWorkerPools } from '../../src/engine/pools.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { killAllWorkerProcesses, startWorkerProcess } from '../helpers/worker-process.js';

let fake: FakeLlmServer;
let h: Harness;
const CRASHY = { provider: 'openai', model: 'gpt-4o', attempts: 3, concurrency: 8, maxTokens: 1000, timeoutMs: 120_000 };
/** Lock and stalled-check timing short enough to see a lost worker within a few seconds. */
const STALLED = { lockDuration: 1000, stalledInterval: 500 };

const chain = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  ...extra,
  steps: [{ sequential: ['s1', 's2', 's3', 's4'].map((id) => ({ id, agent: 'gpt', input: { task: `${id} of ${name}` } })) }],
});

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'budget',
    fake,
    agents: {
      gpt: { provider: 'openai', model: 'gpt-4o', attempts: 1, concurrency: 6 },
      tiny: { provider: 'openai', model: 'gpt-4o', attempts: 1, maxTokens: 5 },
      wide: { provider: 'openai', model: 'gpt-4o', attempts: 1, maxTokens: 100 },
      slow: { provider: 'echo', echo: { latencyMs: 400 } },
      // A cheap primary whose fallback costs ~17 times as much.
      spare: { provider: 'openai', model: 'gpt-4o-mini', attempts: 2, fallback: [{ provider: 'openai', model: 'gpt-4o' }] },
      // Served by a worker process that is killed mid-call (a long timeout: its reservations
      // would outlive the test if only their expiry released them).
      crashy: CRASHY,
    },
    workflows: [
      chain('four'),
      chain('tight-tokens', { budget: { maxTokens: 20 } }),
      {
        name: 'over-answer',
        budget: { maxTokens: 60 },
        steps: [{ sequential: ['s1', 's2'].map((id) => ({ id, agent: 'tiny', input: { task: `over ${id}` } })) }],
      },
      {
        name: 'fan-out',
        budget: { maxTokens: 350 },
        steps: [{ parallel: Array.from({ length: 8 }, (_, i) => ({ id: `p${i}`, agent: 'wide', input: { task: `part ${i} [[delay:400]]` } })) }],
      },
      // Every step with a `when`: each starts through the engine's decision (not the start script's fast path).
      {
        name: 'four-when',
        steps: [{ sequential: ['s1', 's2', 's3', 's4'].map((id) => ({ id, agent: 'gpt', when: 'true', input: { task: `${id} decided` } })) }],
      },
      { name: 'steps-fan-out', steps: [{ parallel: Array.from({ length: 6 }, (_, i) => ({ id: `w${i}`, agent: 'gpt', input: { task: `wide ${i}` } })) }] },
      {
        name: 'two-and-concat',
        steps: [
          { id: 'a', agent: 'gpt', input: { task: 'a' } },
          { id: 'b', agent: 'gpt', input: { task: 'b' } },
          { id: 'both', kind: 'concat', of: ['a', 'b'], dependsOn: ['a', 'b'] },
        ],
        output: ['both'],
      },
      { name: 'spare-one', steps: [{ id: 'only', agent: 'spare', input: { task: 'spare me' } }] },
      // Six calls of about 1,015 tokens each fit 6,500 at once; a seventh does not.
      {
        name: 'fan-crash',
        budget: { maxTokens: 6500 },
        steps: [{ parallel: Array.from({ length: 6 }, (_, i) => ({ id: `c${i}`, agent: 'crashy', input: { task: `crash part ${i}` } })) }],
      },
      {
        name: 'each-then-two',
        input: { names: { type: 'array' } },
        steps: [
          {
            sequential: [
              { id: 'each', kind: 'forEach', items: '{{input.names}}', step: { agent: 'gpt', input: { task: 'about {{item}}' } } },
              { id: 's2', agent: 'gpt', input: { task: 's2 after each' } },
              { id: 's3', agent: 'gpt', input: { task: 's3 last' } },
            ],
          },
        ],
      },
      {
        name: 'slow-chain',
        budget: { deadlineMs: 600 },
        steps: [{ sequential: ['s1', 's2', 's3', 's4'].map((id) => ({ id, agent: 'slow', input: { task: id } })) }],
      },
    ],
    pools: ['gpt', 'tiny', 'wide', 'slow', 'spare'],
  });
}, 30_000);

afterAll(async () => {
  await killAllWorkerProcesses();
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function run(body: Record<string, unknown>): Promise<RunView> {
  const res = await h.request('POST', '/v1/runs', body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return h.waitForRun(res.body.id, 20_000);
}
const statuses = (r: RunView) => r.steps.map((s) => [s.stepId, s.status]);

describe('a run budget', () => {
  it('maxSteps: refuses the step that would pass it before it starts (no call), keeping every output; the run has the outputs it got, by step', async () => {
    fake.reset();
    const r = await run({ workflow: 'four', input: {}, budget: { maxSteps: 3 } });
    expect(r.status).toBe('budget_exceeded');
    expect(r.error).toBe('budget exceeded: step "s4" would pass maxSteps 3 (3 steps started)');
    expect(r.budget).toEqual({ maxSteps: 3 });
    expect(statuses(r)).toEqual([
      ['s1', 'succeeded'],
      ['s2', 'succeeded'],
      ['s3', 'succeeded'],
      ['s4', 'cancelled'],
    ]);
    // The fourth step was never called (nor paid for).
    expect(fake.requests.map((q) => q.prompt)).toEqual(['s1 of four', 's2 of four', 's3 of four']);
    expect(r.steps[3]!.reason).toBe('budget exceeded: step "s4" would pass maxSteps 3 (3 steps started)');
    expect(r.steps[3]!.startedAt).toBeNull();
    expect(r.output).toEqual({ s1: 'fake gpt-4o: s1 of four', s2: 'fake gpt-4o: s2 of four', s3: 'fake gpt-4o: s3 of four' });
    const warnings = (await h.system.engine.store.events.read(h.system.scope(), r.id)).filter((e) => e.type === 'budget.warning');
    expect(warnings).toEqual([expect.objectContaining({ data: { maxSteps: 3, spent: 3 } })]);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('maxSteps: the run keeps the outputs of its own steps that succeeded, not those of the steps they added (a forEach’s items)', async () => {
    fake.reset();
    const r = await run({ workflow: 'each-then-two', input: { names: ['x', 'y'] }, budget: { maxSteps: 3 } });
    expect(r.status).toBe('budget_exceeded');
    expect(r.error).toBe('budget exceeded: step "s3" would pass maxSteps 3 (3 steps started)');
    expect(r.steps.filter((s) => s.status === 'succeeded').map((s) => s.stepId)).toEqual(
      expect.arrayContaining(['each', 's2', expect.stringMatching(/^each\./)]),
    );
    expect(r.output).toEqual({ each: ['fake gpt-4o: about x', 'fake gpt-4o: about y'], s2: 'fake gpt-4o: s2 after each' });
    await expectNoLiveJobs(h.system, r.id);
  });

  it('maxSteps: steps of a fan-out starting at once never start more than the limit together', async () => {
    fake.reset();
    let inFlight = 0;
    let most = 0;
    fake.respondWith(async (req) => {
      if (!req.prompt.startsWith('wide')) return undefined;
      most = Math.max(most, ++inFlight);
      await new Promise((res) => setTimeout(res, 200));
      inFlight--;
      return { text: 'ok' };
    });
    const r = await run({ workflow: 'steps-fan-out', input: {}, budget: { maxSteps: 3 } });
    fake.respondWith(undefined);
    expect(r.status).toBe('budget_exceeded');
    expect(r.error).toMatch(/^budget exceeded: step "w\d" would pass maxSteps 3 \(3 steps started\)$/);
    expect(fake.requests.length).toBeLessThanOrEqual(3);
    expect(most).toBeLessThanOrEqual(3);
    expect(r.steps.filter((s) => s.startedAt !== null).length).toBeLessThanOrEqual(3);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('maxSteps: a step started by the engine’s decision (it has a `when`) is refused the same way', async () => {
    fake.reset();
    const r = await run({ workflow: 'four-when', input: {}, budget: { maxSteps: 2 } });
    expect(r.status).toBe('budget_exceeded');
    expect(r.error).toBe('budget exceeded: step "s3" would pass maxSteps 2 (2 steps started)');
    expect(statuses(r).map(([, st]) => st)).toEqual(['succeeded', 'succeeded', 'cancelled', 'cancelled']);
    expect(fake.requests).toHaveLength(2);
    expect(r.output).toEqual({ s1: 'fake gpt-4o: s1 decided', s2: 'fake gpt-4o: s2 decided' });
  });

  it('maxSteps counts steps that call a model: a concat step is not counted', async () => {
    fake.reset();
    const r = await run({ workflow: 'two-and-concat', input: {}, budget: { maxSteps: 2 } });
    expect(r.status, r.error ?? '').toBe('succeeded');
    expect(r.output).toBe('### a\nfake gpt-4o: a\n\n### b\nfake gpt-4o: b');
  });

  it('maxCostUsd: a call whose estimate (its prompt and maxTokens, priced) would pass the budget is never made', async () => {
    fake.reset();
    const r = await run({ workflow: 'four', input: {}, budget: { maxCostUsd: 0.005 } });
    expect(r.status).toBe('budget_exceeded');
    // gpt-4o: 1024 answer tokens at $10 per million are about $0.0102 alone.
    expect(r.error).toMatch(/^budget exceeded: a call of about \$0\.0102\d+ would pass maxCostUsd 0\.005 \(spent \$0\.000000\)$/);
    expect(fake.requests).toHaveLength(0);
    expect(statuses(r).map(([, s]) => s)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
  });

  it('reserves a fallback’s call at the fallback’s price: one the run cannot afford is not called, the step waits for its primary', async () => {
    fake.reset();
    let primaryCalls = 0;
    // The primary answers 429 once (a 300 ms pause), then answers.
    fake.respondWith((req) => (req.body?.model === 'gpt-4o-mini' && primaryCalls++ === 0 ? { status: 429, headers: { 'retry-after-ms': '300' } } : undefined));
    // gpt-4o-mini's 1024 answer tokens are ~$0.0006, gpt-4o's ~$0.0102: only the primary fits $0.005.
    const r = await run({ workflow: 'spare-one', input: {}, budget: { maxCostUsd: 0.005 } });
    expect(r.status, r.error ?? '').toBe('succeeded');
    expect(fake.requests.map((q) => q.body.model)).toEqual(['gpt-4o-mini', 'gpt-4o-mini']);
    expect(r.steps[0]).toMatchObject({ model: 'gpt-4o-mini', attempts: 1 });
  });

  it('a fallback the run can afford answers, and its answer is priced and counted at its own price', async () => {
    fake.reset();
    fake.respondWith((req) => (req.body?.model === 'gpt-4o-mini' ? { status: 429, headers: { 'retry-after-ms': '300' } } : undefined));
    const r = await run({ workflow: 'spare-one', input: {}, budget: { maxCostUsd: 0.05 } });
    expect(r.status, r.error ?? '').toBe('succeeded');
    expect(fake.requests.map((q) => q.body.model)).toEqual(['gpt-4o-mini', 'gpt-4o']);
    const step = r.steps[0]!;
    expect(step.model).toBe('gpt-4o');
    const { inputTokens, outputTokens, costUsd } = step.usage!;
    expect(costUsd).toBeCloseTo((inputTokens * 2.5 + outputTokens * 10) / 1e6, 8);
    expect(r.usage.costUsd).toBeCloseTo(costUsd!, 8);
  });

  it('maxTokens from the workflow definition: refused before the first call', async () => {
    fake.reset();
    const r = await run({ workflow: 'tight-tokens', input: {} });
    expect(r.status).toBe('budget_exceeded');
    expect(r.error).toMatch(/^budget exceeded: a call of about \d+ tokens would pass maxTokens 20 \(spent 0\)$/);
    expect(r.budget).toEqual({ maxTokens: 20 });
    expect(fake.requests).toHaveLength(0);
  });

  it('maxTokens: an answer longer than its reservation is counted as it is, and the run halts after it', async () => {
    // The fake server does not hold to maxTokens: the answer is far longer than the 5 reserved.
    fake.respondWith((req) => (req.prompt.startsWith('over') ? { text: 'a long answer '.repeat(30) } : undefined));
    const r = await run({ workflow: 'over-answer', input: {} });
    fake.respondWith(undefined);
    expect(r.status).toBe('budget_exceeded');
    expect(r.error).toMatch(/^budget exceeded: tokens \d+ over maxTokens 60$/);
    expect(statuses(r)).toEqual([
      ['s1', 'succeeded'],
      ['s2', 'cancelled'],
    ]);
  });

  it('a fan-out of 8 calls at once runs only as many at a time as the budget covers their reservations; the others wait for room', async () => {
    fake.reset();
    let inFlight = 0;
    let most = 0;
    let seen: RunView | undefined;
    fake.respondWith(async (req) => {
      if (!req.prompt.startsWith('part')) return undefined;
      most = Math.max(most, ++inFlight);
      // While calls are in flight, the run's view shows what they hold against the budget.
      if (!seen) {
        const [listed] = (await h.system.api.queries.list(h.system.scope(), { workflow: 'fan-out', limit: 1 })).runs;
        seen = await h.system.api.queries.get(h.system.scope(), listed!.id);
      }
      await new Promise((res) => setTimeout(res, 300));
      inFlight--;
      return { text: 'ok' };
    });
    const r = await run({ workflow: 'fan-out', input: {} });
    fake.respondWith(undefined);
    // Each call reserves about 103 tokens (its prompt and maxTokens 100): at most three fit in 350.
    expect(most).toBeLessThanOrEqual(3);
    // They used far less than they reserved, so all eight got their turn, none with an attempt used up.
    expect(r.status).toBe('succeeded');
    expect(fake.requests).toHaveLength(8);
    expect(r.steps.every((s) => s.attempts === 1)).toBe(true);
    expect(r.usage.inputTokens + r.usage.outputTokens).toBeLessThanOrEqual(350);
    expect(seen?.reserved?.tokens).toBeGreaterThanOrEqual(100);
    expect(seen?.reserved?.tokens).toBeLessThanOrEqual(350);
    expect(r.reserved, 'a finished run holds nothing').toBeUndefined();
    const waits = (await h.system.engine.store.events.read(h.system.scope(), r.id)).filter((e) => e.type === 'step.retrying' && e.data.reason === 'capacity');
    expect(waits.length).toBeGreaterThan(0);
    expect(waits[0]!.data.detail).toMatch(/^waiting for provider capacity: run budget maxTokens 350 \(spent \d+, in flight \d+, this call about \d+\)$/);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('deadlineMs: a step that begins after the deadline halts the run', async () => {
    const r = await run({ workflow: 'slow-chain', input: {} });
    expect(r.status).toBe('budget_exceeded');
    expect(r.error).toBe('budget exceeded: deadlineMs passed');
    // s1 begins at once, s4 after three 400 ms steps: the ones between depend on timing.
    const seen = statuses(r).map(([, st]) => st);
    expect(seen[0]).toBe('succeeded');
    expect(seen[3]).toBe('cancelled');
    expect(seen.join(',')).toMatch(/^(succeeded,)+(cancelled,?)+$/);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('lets a run within its budget finish as usual, and refuses a bad budget with a 422', async () => {
    const r = await run({ workflow: 'four', input: {}, budget: { maxSteps: 10, maxCostUsd: 10 } });
    expect(r.status).toBe('succeeded');
    const bad = await h.request('POST', '/v1/runs', { workflow: 'four', input: {}, budget: { maxSteps: 0 } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.issues[0].path).toBe('budget.maxSteps');
  });
});

describe('reservations of a worker that died', () => {
  it('are leases: one that expires is never counted, and the run’s end releases them all', async () => {
    // No worker serves `crashy` here: the run is live, its steps pending, while the test reserves.
    const id = (await h.request('POST', '/v1/runs', { workflow: 'fan-crash', input: {} })).body.id as string;
    const owner = { stepId: 'c0', attempt: 1 };
    const lease = (tokens: number, leaseMs: number) => ({ tokens, costUsd: 0, owner, lease: randomUUID(), leaseMs });
    expect(await h.system.engine.store.budgets.reserveBudget(h.system.scope(), id, lease(6000, 150))).toBe('');
    const kept = lease(400, 60_000);
    expect(await h.system.engine.store.budgets.reserveBudget(h.system.scope(), id, kept)).toBe('');
    expect(await h.system.engine.store.budgets.reserveBudget(h.system.scope(), id, lease(1000, 60_000))).toMatch(
      /^wait maxTokens 6500 \(spent 0, in flight 6400, /,
    );
    await new Promise((r) => setTimeout(r, 200));
    // The first one's worker never settled it: expired, it no longer counts.
    expect(await h.system.engine.store.budgets.reserveBudget(h.system.scope(), id, lease(1000, 60_000))).toBe('');
    // Settled twice (or after it was released), a reservation is given back once.
    await h.system.engine.store.budgets.settleBudget(h.system.scope(), id, kept, { tokens: 0, costUsd: 0 });
    await h.system.engine.store.budgets.settleBudget(h.system.scope(), id, kept, { tokens: 0, costUsd: 0 });
    expect(await h.system.engine.store.budgets.reserveBudget(h.system.scope(), id, lease(5500, 60_000))).toBe('');
    expect(await h.system.engine.store.budgets.reserveBudget(h.system.scope(), id, lease(1, 60_000))).toMatch(
      /^wait maxTokens 6500 \(spent 0, in flight 6500, /,
    );
    expect(await h.system.engine.redis.exists(keys.runHolds(h.system.scope(), id))).toBe(1);
    expect((await h.request('POST', `/v1/runs/${id}/cancel`)).status).toBe(200);
    expect(await h.system.engine.redis.exists(keys.runHolds(h.system.scope(), id))).toBe(0);
  });

  it('are released when its steps are recovered: a budget that fits only without them still lets the run finish', { timeout: 60_000 }, async () => {
    fake.reset();
    let held = true;
    // Until the kill, every call hangs (in flight in the worker process); after it, answers at once.
    fake.respondWith(() => (held ? { delayMs: 60_000, text: 'never sent' } : { text: 'ok' }));
    const worker = await startWorkerProcess({ prefix: h.prefix, agents: { crashy: CRASHY }, serve: ['crashy'], internal: false, fake, stalled: STALLED });
    const res = await h.request('POST', '/v1/runs', { workflow: 'fan-crash', input: {} });
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    // All six calls reserved their tokens and are in flight when the worker is killed.
    await poll(
      'six calls in flight',
      () => fake.requests.length,
      (n) => n === 6,
      { timeoutMs: 20_000 },
    );
    await worker.kill();
    held = false;
    const pools = await startWorkerPools(h.system, { agents: ['crashy'], internal: false, stalled: STALLED });
    try {
      const r = await h.waitForRun(id, 30_000);
      expect(r.status, r.error ?? '').toBe('succeeded');
      expect(r.steps.map((s) => [s.attempts, s.recovered])).toEqual(Array(6).fill([2, true]));
      expect(fake.requests).toHaveLength(12);
      await expectNoLiveJobs(h.system, id);
    } finally {
      await pools.close(5_000);
    }
  });
});
