/**
 * GET /v1/insights (learning from feedback, without training: seeds 000 and 002) and the step
 * outcomes of GET /v1/stats' trend buckets, on the real engine and Redis, the agents on the real
 * OpenAI SDK against the fake server, which fails their calls with errors of known classes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.js';
import { Insights } from '../../src/model/insights.js';
import type { RunView } from '../../src/query/run-view.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;
let since: string;
let runs: RunView[];

const CONTEXT_LENGTH = '[[status:400]][[error-type:context_length_exceeded]]';

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'insights',
    fake,
    agents: {
      longwinded: { provider: 'openai', model: 'gpt-4o', attempts: 1 },
      keyless: { provider: 'openai', model: 'gpt-4o-mini', attempts: 1 },
      steady: { provider: 'openai', model: 'gpt-4o-mini', attempts: 1 },
      drafter: { provider: 'openai', model: 'gpt-4o', attempts: 1 },
    },
    workflows: [
      {
        name: 'report',
        steps: [
          { id: 'outline', agent: 'drafter', input: { task: 'an outline' } },
          { id: 'write', agent: 'drafter', dependsOn: ['outline'], input: { task: `the whole report ${CONTEXT_LENGTH}` } },
        ],
      },
    ],
  });
  since = new Date().toISOString();
  // longwinded: 3 of its 4 calls fail with context-length errors; keyless: its one call with a refused key; steady: none.
  const tasks: [string, string][] = [
    ['longwinded', `a long report ${CONTEXT_LENGTH}`],
    ['longwinded', `another long report ${CONTEXT_LENGTH}`],
    ['longwinded', `a third long report ${CONTEXT_LENGTH}`],
    ['longwinded', 'a short note [[delay:50]]'],
    ['keyless', 'anything [[status:401]]'],
    ['steady', 'a summary [[delay:50]]'],
    ['steady', 'a second summary'],
  ];
  runs = [];
  for (const [agent, task] of tasks) {
    const res = await h.request('POST', '/v1/runs', { agent, input: { task } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    runs.push(await h.waitForRun(res.body.id as string, 20_000));
  }
  const report = await h.request('POST', '/v1/runs', { workflow: 'report', input: {} });
  expect(report.status).toBe(202);
  runs.push(await h.waitForRun(report.body.id as string, 20_000));
  const steadyRuns = runs.filter((r) => r.workflow === 'agent/steady');
  for (const [i, r] of steadyRuns.entries())
    expect((await h.request('POST', `/v1/runs/${r.id}/steps/${r.steps[0]!.stepId}/feedback`, { rating: 4 + i })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

const stepsOf = (agent: string) => runs.filter((r) => r.workflow === `agent/${agent}`).map((r) => r.steps[0]!);
const durationOf = (s: { startedAt: string | null; finishedAt: string | null }) => Date.parse(s.finishedAt!) - Date.parse(s.startedAt!);

describe('a failed step', () => {
  it('keeps the class of the error it failed with', () => {
    expect(stepsOf('longwinded').map((s) => [s.status, s.errorClass ?? null])).toEqual([
      ['failed', 'ContextLengthError'],
      ['failed', 'ContextLengthError'],
      ['failed', 'ContextLengthError'],
      ['succeeded', null],
    ]);
    expect(stepsOf('keyless')[0]).toMatchObject({ status: 'failed', errorClass: 'NonRetryableError', debug: { error: { status: 401 } } });
  });
});

describe('GET /v1/insights', () => {
  it('classifies failures, gives the suggestion for each common reason, and rates, times and prices each agent and workflow', async () => {
    const res = await h.request('GET', `/v1/insights?since=${encodeURIComponent(since)}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const insights = Insights.parse(res.body);
    expect(insights).toMatchObject({ bucketMs: 3600_000, scanned: 8, truncated: false });

    const long = insights.agents.longwinded!;
    expect(long).toMatchObject({ count: 4, succeeded: 1, failed: 3, successRate: 0.25 });
    expect(long.failures).toEqual([{ reason: 'context_length', count: 3, share: 1, example: expect.stringContaining('context length exceeded') }]);
    const okStep = stepsOf('longwinded')[3]!;
    expect(long.costUsd).toBeCloseTo(okStep.usage!.costUsd!);
    expect(insights.agents.keyless!.failures).toEqual([{ reason: 'auth', count: 1, share: 1, example: expect.stringContaining('401') }]);

    const steady = insights.agents.steady!;
    expect(steady).toMatchObject({ count: 2, succeeded: 2, failed: 0, successRate: 1, failures: [], rating: { average: 4.5, count: 2 } });
    expect(steady.averageMs).toBe(Math.round(stepsOf('steady').reduce((n, s) => n + durationOf(s), 0) / 2));
    // One bucket: the window's runs were all made within the hour (or across its turn: then two).
    expect(steady.buckets.reduce((n, b) => n + b.count, 0)).toBe(2);
    expect(steady.buckets.every((b) => b.successRate === 1)).toBe(true);

    expect(insights.workflows['agent/longwinded']).toMatchObject({ count: 4, failed: 3, failures: [{ reason: 'context_length', count: 3 }] });

    // The suggestions, the most telling first: each names the agent (or workflow), the share and what to do.
    const texts = insights.suggestions.map((s) => s.text);
    expect(texts).toContain(
      'agent longwinded fails 75% of its calls with context-length errors: shorten its prompt or input, lower maxTokens, or give it a model with a larger context window',
    );
    expect(texts).toContain(
      "agent keyless fails 100% of its calls with refused keys (401/403): check its provider key (npm run keys, or the workspace agent's key)",
    );
    expect(texts).toContain(
      'workflow report fails 100% of its runs with context-length errors: shorten its prompt or input, lower maxTokens, or give it a model with a larger context window',
    );
    expect(insights.workflows.report).toMatchObject({ count: 1, failed: 1, failures: [{ reason: 'context_length', count: 1, share: 1 }] });
    expect(insights.agents.drafter).toMatchObject({ count: 2, succeeded: 1, failed: 1 });
    // A single-agent task's workflow repeats no suggestion of its agent.
    expect(insights.suggestions.some((s) => s.workflow?.startsWith('agent/'))).toBe(false);
    expect(insights.suggestions.find((s) => s.agent === 'longwinded')).toMatchObject({ reason: 'context_length', share: 0.75 });
    expect(insights.suggestions.some((s) => s.agent === 'steady')).toBe(false);
    expect(insights.suggestions.map((s) => s.share)).toEqual([...insights.suggestions.map((s) => s.share)].sort((x, y) => y - x));
  });

  it('filters by agent, and refuses a bad window with a 422 naming it', async () => {
    // One window for both asks: a trend compares the window's halves, which move with its end.
    const until = new Date().toISOString();
    const only = Insights.parse(
      (await h.request('GET', `/v1/insights?since=${encodeURIComponent(since)}&until=${encodeURIComponent(until)}&agent=steady`)).body,
    );
    expect(Object.keys(only.agents)).toEqual(['steady']);
    expect(Object.keys(only.workflows)).toEqual(['agent/steady']);
    // The client asks the same.
    const viaClient = await createClient({ url: h.baseUrl }).insights({ since, until, agent: 'steady' });
    expect(viaClient.agents).toEqual(only.agents);
    const bad = await h.request('GET', '/v1/insights?since=last-week');
    expect(bad.status).toBe(422);
    expect(bad.body.error.issues[0].path).toBe('query.since');
    const unknown = await h.request('GET', '/v1/insights?period=day');
    expect(unknown.status).toBe(422);
  });
});

describe("GET /v1/stats' trend buckets", () => {
  it('hold the steps that succeeded and failed and their total time, per agent too', async () => {
    const s = (await h.request('GET', `/v1/stats?since=${encodeURIComponent(since)}`)).body;
    const total = (rows: Record<string, number>[], field: string) => rows.reduce((n, b) => n + b[field]!, 0);
    const all = runs.flatMap((r) => r.steps);
    expect(total(s.trend.buckets, 'stepsSucceeded')).toBe(all.filter((x) => x.status === 'succeeded').length);
    expect(total(s.trend.buckets, 'stepsFailed')).toBe(5);
    expect(total(s.trend.buckets, 'timedSteps')).toBe(9);
    expect(total(s.trend.buckets, 'stepDurationMs')).toBe(all.reduce((n, x) => n + durationOf(x), 0));

    const long = s.agents.longwinded.trend as Record<string, number>[];
    expect(total(long, 'steps')).toBe(4);
    expect(total(long, 'stepsSucceeded')).toBe(1);
    expect(total(long, 'stepsFailed')).toBe(3);
    expect(total(long, 'stepDurationMs')).toBe(stepsOf('longwinded').reduce((n, x) => n + durationOf(x), 0));
    if (long.length === 1) expect(long[0]).toMatchObject({ successRate: 0.25, averageMs: Math.round(long[0]!.stepDurationMs! / 4) });
  });
});
