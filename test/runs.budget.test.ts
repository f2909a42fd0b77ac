/**
 * Budgets: a run that spends past a limit (cost, tokens, steps; from the request or its
 * workflow) halts as budget_exceeded, keeping what it recorded; 80% of a limit is a
 * budget.warning event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../src/runs/runs-service.js';
import { startFakeLlmServer, type FakeLlmServer } from './fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from './helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;

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
    agents: { gpt: { provider: 'openai', model: 'gpt-4o', attempts: 1 }, slow: { provider: 'echo', echo: { latencyMs: 400 } } },
    workflows: [
      chain('four'),
      chain('tight-tokens', { budget: { maxTokens: 20 } }),
      { name: 'slow-chain', budget: { deadlineMs: 600 }, steps: [{ sequential: ['s1', 's2', 's3', 's4'].map((id) => ({ id, agent: 'slow', input: { task: id } })) }] },
    ],
  });
}, 30_000);

afterAll(async () => {
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
  it('maxSteps: halts after the step that goes past it, keeping what was recorded, with a warning at 80%', async () => {
    const r = await run({ workflow: 'four', input: {}, budget: { maxSteps: 2 } });
    expect(r.status).toBe('budget_exceeded');
    expect(r.error).toBe('budget exceeded: steps 3 over maxSteps 2');
    expect(r.budget).toEqual({ maxSteps: 2 });
    expect(statuses(r)).toEqual([
      ['s1', 'succeeded'],
      ['s2', 'succeeded'],
      ['s3', 'succeeded'],
      ['s4', 'cancelled'],
    ]);
    expect(r.steps[3]!.reason).toBe('budget exceeded: steps 3 over maxSteps 2');
    expect(r.steps[2]!.output).toBe('fake gpt-4o: s3 of four');
    const warnings = (await h.system.store.readEvents(r.id)).filter((e) => e.type === 'budget.warning');
    expect(warnings).toEqual([expect.objectContaining({ data: { maxSteps: 2, spent: 2 } })]);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('maxCostUsd: halts once the priced answers cost more', async () => {
    const r = await run({ workflow: 'four', input: {}, budget: { maxCostUsd: 0.000001 } });
    expect(r.status).toBe('budget_exceeded');
    expect(r.error).toMatch(/^budget exceeded: cost [\d.e-]+ over maxCostUsd 1e-06$/);
    expect(statuses(r).map(([, s]) => s)).toEqual(['succeeded', 'cancelled', 'cancelled', 'cancelled']);
  });

  it('maxTokens from the workflow definition', async () => {
    const r = await run({ workflow: 'tight-tokens', input: {} });
    expect(r.status).toBe('budget_exceeded');
    expect(r.error).toMatch(/^budget exceeded: tokens \d+ over maxTokens 20$/);
    expect(r.budget).toEqual({ maxTokens: 20 });
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
