/**
 * POST /v1/runs/:id/rerun: a new run of the stored definition that reuses every recorded output
 * upstream of `fromStep` (provider call counts on the fake server prove no call is made for
 * them), gives `fromStep` the feedback, and links to the run it reruns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { unique } from '../helpers/redis.js';

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'rerun',
    fake,
    agents: { llm: { provider: 'openai', model: 'gpt-test', attempts: 1 }, slow: { provider: 'echo', echo: { latencyMs: 2_000 } } },
    workflows: [
      {
        name: 'chain',
        input: { m: { type: 'string' } },
        steps: [
          { id: 'a', agent: 'llm', input: { task: 'A {{input.m}}' } },
          { id: 'x', agent: 'llm', dependsOn: ['a'], input: { task: 'X {{input.m}} {{steps.a.output}}' } },
          { id: 'b', agent: 'llm', dependsOn: ['a'], input: { task: 'B {{input.m}} {{steps.a.output}}' } },
          { id: 'c', agent: 'llm', dependsOn: ['b'], input: { task: 'C {{input.m}} [[fail-first:1:400]]' } },
        ],
      },
      { name: 'slow', steps: [{ id: 's', agent: 'slow', input: { task: 'slow' } }] },
    ],
  });
}, 30_000);

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function runChain(m: string): Promise<RunView> {
  const res = await h.request('POST', '/v1/runs', { workflow: 'chain', input: { m } });
  return h.waitForRun(res.body.id, 20_000);
}
const calls = (prefix: string) => fake.requests.filter((r) => r.prompt.startsWith(prefix)).length;
const stepOf = (r: RunView, id: string) => r.steps.find((s) => s.stepId === id)!;

describe('rerunning a run from a step', () => {
  it('reuses what is upstream (and beside), reruns the step and what follows it, and links the runs', async () => {
    const m = unique('m');
    const first = await runChain(m);
    // c failed its first call (fail-first): the run failed, a, x and b succeeded.
    expect(first.status).toBe('failed');
    const res = await h.request('POST', `/v1/runs/${first.id}/rerun`, { fromStep: 'b', feedback: 'be brief' });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: expect.stringMatching(/^run_/), status: 'queued', rerunOf: first.id });
    expect(res.headers.get('location')).toBe(`/v1/runs/${res.body.id}`);
    const second = await h.waitForRun(res.body.id, 20_000);
    expect(second.status).toBe('succeeded');
    expect(second.rerunOf).toBe(first.id);
    expect(second.input).toEqual({ m });
    for (const id of ['a', 'x']) {
      expect(stepOf(second, id)).toMatchObject({ status: 'succeeded', reusedFrom: first.id, output: stepOf(first, id).output });
    }
    for (const id of ['b', 'c']) expect(stepOf(second, id)).toMatchObject({ status: 'succeeded', reusedFrom: null });
    // No provider call for a reused step: A and X were asked once, in the first run.
    expect(calls(`A ${m}`)).toBe(1);
    expect(calls(`X ${m}`)).toBe(1);
    expect(calls(`B ${m}`)).toBe(2);
    expect(calls(`C ${m}`)).toBe(2);
    // b got the feedback and its previous answer in its context.
    const bAgain = fake.requests.filter((r) => r.prompt.startsWith(`B ${m}`))[1]!;
    expect(bAgain.prompt).toContain('"feedback": "be brief"');
    expect(bAgain.prompt).toContain(`"previousOutput": ${JSON.stringify(stepOf(first, 'b').output)}`);
    const reused = (await h.system.engine.store.events.read(h.system.scope(), second.id)).find((e) => e.type === 'step.completed' && e.stepId === 'a');
    expect(reused?.data).toMatchObject({ reused: { runId: first.id } });
    await expectNoLiveJobs(h.system, second.id);
  });

  it('reruns an upstream step that did not succeed, with what needs it', async () => {
    const m = unique('m');
    const first = await runChain(m);
    const res = await h.request('POST', `/v1/runs/${first.id}/rerun`, { fromStep: 'x' });
    const second = await h.waitForRun(res.body.id, 20_000);
    expect(second.status).toBe('succeeded');
    expect(second.steps.map((s) => [s.stepId, s.reusedFrom])).toEqual([
      ['a', first.id],
      ['x', null],
      ['b', first.id],
      ['c', null],
    ]);
  });

  it('reruns a single-agent task with feedback, and with a new input for a workflow', async () => {
    const task = unique('task');
    const res = await h.request('POST', '/v1/runs', { agent: 'llm', input: { task } });
    const first = await h.waitForRun(res.body.id, 10_000);
    const again = await h.request('POST', `/v1/runs/${first.id}/rerun`, { fromStep: 'llm', feedback: 'shorter' });
    expect(again.status).toBe(202);
    const second = await h.waitForRun(again.body.id, 10_000);
    expect(second.status).toBe('succeeded');
    expect(second.workflow).toBe('agent/llm');
    expect(fake.requests.filter((r) => r.prompt.startsWith(task))).toHaveLength(2);

    const m = unique('m');
    const chain = await runChain(m);
    const m2 = unique('m2');
    const other = await h.request('POST', `/v1/runs/${chain.id}/rerun`, { fromStep: 'a', input: { m: m2 } });
    expect((await h.waitForRun(other.body.id, 20_000)).input).toEqual({ m: m2 });
  });

  it('refuses what it cannot do with a 4xx that names the problem', async () => {
    const m = unique('m');
    const done = await runChain(m);
    const unknownStep = await h.request('POST', `/v1/runs/${done.id}/rerun`, { fromStep: 'zz' });
    expect(unknownStep.status).toBe(422);
    expect(unknownStep.body.error.message).toContain('"zz" is not a step of the run\'s workflow; its steps: a, x, b, c');
    expect((await h.request('POST', `/v1/runs/${done.id}/rerun`, { fromStep: 'a', extra: 1 })).status).toBe(422);
    expect((await h.request('POST', `/v1/runs/${done.id}/rerun`, { fromStep: 'a', input: { nope: 1 } })).status).toBe(422);
    expect((await h.request('POST', '/v1/runs/run_nosuchrun/rerun', { fromStep: 'a' })).status).toBe(404);
    const slow = await h.request('POST', '/v1/runs', { workflow: 'slow', input: {} });
    const busy = await h.request('POST', `/v1/runs/${slow.body.id}/rerun`, { fromStep: 's' });
    expect(busy.status).toBe(409);
    expect(busy.body.error.message).toContain('a run is rerun once it has finished');
    await h.request('POST', `/v1/runs/${slow.body.id}/cancel`);
  });
});
