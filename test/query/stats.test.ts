/**
 * Feedback on a step's result (seed 002's TaskFeedback) and GET /v1/stats (seed 001's
 * statistics, seed 002's per-agent performance metrics and trends), on the real engine and
 * Redis, the agents on the real OpenAI SDK against the fake server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'stats',
    fake,
    agents: { writer: { provider: 'openai', model: 'gpt-4o', attempts: 1 }, checker: { provider: 'openai', model: 'gpt-4o-mini', attempts: 1 } },
    workflows: [
      {
        name: 'pair',
        steps: [
          {
            sequential: [
              { id: 'draft', agent: 'writer', input: { task: 'draft' } },
              { id: 'check', agent: 'checker', input: { task: 'check {{steps.draft.output}}' } },
            ],
          },
        ],
      },
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

describe('feedback on a step', () => {
  it('is stored with the step, also once its run is compacted, and the last one stands', async () => {
    const r = await run({ workflow: 'pair', input: {} });
    const post = (stepId: string, body: unknown) => h.request('POST', `/v1/runs/${r.id}/steps/${stepId}/feedback`, body);
    const first = await post('draft', { rating: 2, comment: 'thin' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ runId: r.id, stepId: 'draft', feedback: { rating: 2, comment: 'thin', at: expect.any(String) } });
    expect((await post('draft', { rating: 4, useful: true })).status).toBe(200);
    const view = (await h.request('GET', `/v1/runs/${r.id}`)).body as RunView;
    expect(view.steps.find((s) => s.stepId === 'draft')!.feedback).toMatchObject({ rating: 4, useful: true });
    expect(view.steps.find((s) => s.stepId === 'check')!.feedback).toBeNull();
  });

  it('answers 404, 409 and 422 naming the problem', async () => {
    const r = await run({ workflow: 'pair', input: {} });
    expect((await h.request('POST', `/v1/runs/${r.id}/steps/nope/feedback`, { rating: 3 })).body.error.message).toBe(`run "${r.id}" has no step "nope"`);
    expect((await h.request('POST', '/v1/runs/run_0mx5nope0000000000000/steps/a/feedback', { rating: 3 })).status).toBe(404);
    const bad = await h.request('POST', `/v1/runs/${r.id}/steps/draft/feedback`, { rating: 6 });
    expect(bad.status).toBe(422);
    expect(bad.body.error.issues[0].path).toBe('rating');
    // A step that has not finished has no result to rate.
    const slow = (await h.request('POST', '/v1/runs', { agent: 'writer', input: { task: 'slow [[delay:1500]]' } })).body.id as string;
    const running = await h.waitUntil(slow, (v) => v.steps[0]!.status === 'running', 10_000);
    const stepId = running.steps[0]!.stepId;
    const early = await h.request('POST', `/v1/runs/${slow}/steps/${stepId}/feedback`, { rating: 5 });
    expect(early.status).toBe(409);
    expect(early.body.error.message).toBe(`step "${stepId}" has not finished (it is running); give feedback on its result once it has one`);
    await h.waitForRun(slow, 20_000);
  });
});

describe('GET /v1/stats', () => {
  it('gives totals, per-agent performance (latency, tokens, cost, ratings), per-workflow figures and trends', async () => {
    const since = new Date().toISOString();
    const ok = await run({ workflow: 'pair', input: {} });
    const failed = await run({ agent: 'writer', input: { task: 'boom [[status:400]]' } });
    expect(failed.status).toBe('failed');
    await h.request('POST', `/v1/runs/${ok.id}/steps/check/feedback`, { rating: 5, useful: true });
    const res = await h.request('GET', `/v1/stats?since=${encodeURIComponent(since)}`);
    expect(res.status).toBe(200);
    const s = res.body;
    expect(s).toMatchObject({ registeredAgents: 2, agentNames: ['writer', 'checker'], scanned: 2, truncated: false });
    expect(s.runs).toMatchObject({ total: 2, completed: 1, failed: 1, inProgress: 0, successRate: 0.5 });
    const writer = s.agents.writer;
    expect(writer).toMatchObject({ steps: 2, succeeded: 1, failed: 1, successRate: 0.5, models: ['gpt-4o'], memoHits: 0 });
    expect(writer.latencyMs.p50).toBeGreaterThanOrEqual(0);
    const draft = ok.steps.find((x) => x.stepId === 'draft')!;
    expect(writer.tokens).toEqual({ input: draft.usage!.inputTokens, output: draft.usage!.outputTokens });
    expect(writer.costUsd).toBeCloseTo(draft.usage!.costUsd!);
    expect(s.agents.checker.rating).toEqual({ average: 5, count: 1, useful: 1 });
    expect(s.workflows.pair).toMatchObject({ runs: 1, completed: 1, failed: 0 });
    expect(s.workflows['agent/writer']).toMatchObject({ runs: 1, failed: 1 });
    expect(s.trend.bucketMs).toBe(3600_000);
    expect(s.trend.buckets.reduce((n: number, b: { runs: number }) => n + b.runs, 0)).toBe(2);

    const onlyChecker = (await h.request('GET', `/v1/stats?since=${encodeURIComponent(since)}&agent=checker`)).body;
    expect(onlyChecker.runs.total).toBe(1);
    expect(Object.keys(onlyChecker.agents)).toEqual(['checker']);
    const bad = await h.request('GET', '/v1/stats?since=yesterday');
    expect(bad.status).toBe(422);
    expect(bad.body.error.issues[0].path).toBe('query.since');
    const reversed = await h.request('GET', `/v1/stats?since=${encodeURIComponent(new Date().toISOString())}&until=2020-01-01T00:00:00Z`);
    expect(reversed.status).toBe(422);
  });
});
