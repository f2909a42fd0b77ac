/**
 * Planner steps (`kind: plan`): the planner on the real Anthropic SDK against the fake server
 * (scripted plans), the plan's steps on echo, on the real engine and Redis.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { startFakeLlmServer, type FakeLlmServer, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';

const AGENTS: Record<string, Record<string, unknown>> = {
  planner: { provider: 'anthropic', model: 'claude-plan', attempts: 1 },
  research: { provider: 'echo', echo: { latencyMs: 200 } },
  content: { provider: 'echo', echo: { latencyMs: 50 } },
  'echo-planner': { provider: 'echo' },
};

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'plan',
    fake,
    agents: AGENTS,
    workflows: [
      {
        name: 'planned',
        input: { goal: { type: 'string' } },
        steps: [{ id: 'plan', kind: 'plan', agent: 'planner', agents: ['research', 'content'], maxSteps: 4, input: { task: 'Plan: {{input.goal}}' } }],
      },
      { name: 'planned-offline', steps: [{ id: 'plan', kind: 'plan', agent: 'echo-planner', input: { task: 'A post on queues' } }] },
    ],
  });
}, 30_000);

afterEach(() => fake.reset());

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

/** The planner's n-th call answers plans[n-1] through the plan tool. */
function plans(...answers: unknown[]): void {
  let n = 0;
  fake.respondWith((r) => (r.body?.model === 'claude-plan' ? { toolCalls: [{ name: 'plan', input: answers[n++] }] } : undefined));
}

const plannerCalls = () => fake.requests.filter((r: RecordedRequest) => r.body?.model === 'claude-plan');

async function run(workflow: string, input: Record<string, unknown> = { goal: 'a post on queues' }): Promise<RunView> {
  const res = await h.request('POST', '/v1/runs', { workflow, input });
  expect(res.status).toBe(202);
  return h.waitForRun(res.body.id, 20_000);
}

const good = {
  steps: [
    { id: 'facts', agent: 'research', task: 'find facts' },
    { id: 'trends', agent: 'research', task: 'find trends' },
    { id: 'post', agent: 'content', task: 'write the post', dependsOn: ['facts', 'trends'] },
  ],
};

describe('a planner step', () => {
  it('runs a valid plan as a sub-DAG with as much parallelism as it allows, each step given its dependencies’ outputs', async () => {
    plans(good);
    const r = await run('planned');
    expect(r.status).toBe('succeeded');
    expect(r.steps.map((s) => [s.stepId, s.parent, s.status])).toEqual([
      ['plan', null, 'succeeded'],
      ['plan.facts', 'plan', 'succeeded'],
      ['plan.trends', 'plan', 'succeeded'],
      ['plan.post', 'plan', 'succeeded'],
    ]);
    const [facts, trends, post] = ['plan.facts', 'plan.trends', 'plan.post'].map((id) => r.steps.find((s) => s.stepId === id)!);
    // facts and trends (200 ms each) overlapped; post came after both.
    expect(Date.parse(trends!.startedAt!)).toBeLessThan(Date.parse(facts!.finishedAt!));
    expect(Date.parse(post!.startedAt!)).toBeGreaterThanOrEqual(Math.max(Date.parse(facts!.finishedAt!), Date.parse(trends!.finishedAt!)));
    expect(post!.output).toContain('"dependencies": {\n    "facts": "[research] find facts",\n    "trends": "[research] find trends"\n  }');
    expect(r.output).toEqual({ plan: good.steps, outputs: { facts: '[research] find facts', trends: '[research] find trends', post: post!.output } });
    // The planner was asked through a forced tool listing the agents it may plan with.
    const [call] = plannerCalls();
    expect(call!.body.tool_choice).toEqual({ type: 'tool', name: 'plan' });
    expect(call!.body.tools[0].input_schema.properties.steps.items.properties.agent.enum).toEqual(['research', 'content']);
    expect(call!.body.tools[0].input_schema.properties.steps.maxItems).toBe(4);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('sends an invalid plan back once with its problems, and runs the corrected one', async () => {
    plans(
      {
        steps: [
          { id: 'a', agent: 'review', task: 'x' },
          { id: 'b', agent: 'content', task: 'y', dependsOn: ['nope'] },
        ],
      },
      good,
    );
    const r = await run('planned');
    expect(r.status).toBe('succeeded');
    expect(r.steps).toHaveLength(4);
    const calls = plannerCalls();
    expect(calls).toHaveLength(2);
    const feedback = calls[1]!.body.messages.at(-1).content[0];
    expect(feedback).toMatchObject({ type: 'tool_result', is_error: true });
    expect(feedback.content).toContain('/steps/0/agent: must be equal to one of the allowed values');
    const completed = (await h.system.engine.store.events.read(h.system.scope(), r.id)).find((e) => e.type === 'step.completed' && e.stepId === 'plan');
    expect(completed?.data).toMatchObject({ planSteps: 3, rounds: 2 });
  });

  it('fails with the problems when the second plan is invalid too: a cycle, then an unknown dependency', async () => {
    const cycle = {
      steps: [
        { id: 'a', agent: 'content', task: 'x', dependsOn: ['b'] },
        { id: 'b', agent: 'content', task: 'y', dependsOn: ['a'] },
      ],
    };
    const unknownDep = { steps: [{ id: 'a', agent: 'content', task: 'x', dependsOn: ['ghost'] }] };
    plans(cycle, unknownDep);
    const r = await run('planned');
    expect(r.status).toBe('failed');
    const error = r.steps.find((s) => s.stepId === 'plan')!.error!;
    expect(error).toMatch(/^the plan is invalid \(asked twice\): /);
    expect(error).toContain('unknown step "ghost"');
    const first = plannerCalls()[1]!.body.messages.at(-1).content[0].content as string;
    expect(first).toContain('cycle');
    expect(r.steps.map((s) => s.stepId)).toEqual(['plan']);
  });

  it('runs offline on echo: a one-step plan on the first agent', async () => {
    const r = await run('planned-offline', {});
    expect(r.status).toBe('succeeded');
    expect(r.steps.map((s) => [s.stepId, s.status])).toEqual([
      ['plan', 'succeeded'],
      ['plan.s1', 'succeeded'],
    ]);
    expect(r.output).toMatchObject({ plan: [{ id: 's1', task: 'A post on queues' }] });
  });
});
