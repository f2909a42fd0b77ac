/**
 * forEach steps: a step template fanned out over a list from an earlier output or the input,
 * on the real engine and Redis (the list from the real OpenAI SDK against the fake server, the
 * items on echo).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';

const AGENTS: Record<string, Record<string, unknown>> = {
  finder: { provider: 'openai', model: 'gpt-find', attempts: 1 },
  detail: { provider: 'echo', echo: { latencyMs: 150 }, concurrency: 10 },
  writer: { provider: 'echo' },
};

const each = (extra: Record<string, unknown> = {}) => ({
  id: 'each',
  kind: 'forEach',
  items: '{{input.names}}',
  step: { agent: 'detail', input: { task: 'Detail {{item}} ({{index}})' } },
  ...extra,
});
const names = { names: { type: 'array' } };

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'foreach',
    fake,
    agents: AGENTS,
    workflows: [
      {
        name: 'scan',
        input: { list: { type: 'string' } },
        steps: [
          {
            sequential: [
              { id: 'find', agent: 'finder', input: { task: 'List companies [[reply:{{input.list}}]]' } },
              {
                id: 'each',
                kind: 'forEach',
                items: '{{steps.find.output.companies}}',
                step: { agent: 'detail', input: { task: 'Detail {{item}} ({{index}})' } },
              },
              { id: 'report', agent: 'writer', input: { task: 'Report', context: { details: '{{steps.each.output}}' } } },
            ],
          },
        ],
      },
      {
        name: 'scan-wide',
        input: { list: { type: 'string' } },
        steps: [
          {
            sequential: [
              { id: 'find', agent: 'finder', input: { task: 'List companies [[reply:{{input.list}}]]' } },
              {
                id: 'each',
                kind: 'forEach',
                items: '{{steps.find.output.companies}}',
                maxItems: 1000,
                step: { agent: 'detail', input: { task: 'Detail {{item}}' } },
              },
              { id: 'report', agent: 'writer', input: { task: 'Report', context: { details: '{{steps.each.output}}' } } },
            ],
          },
        ],
      },
      { name: 'lanes', input: names, steps: [each({ concurrency: 2 })] },
      { name: 'narrow', input: names, steps: [each({ maxItems: 2 })] },
      {
        name: 'narrow-output',
        input: { list: { type: 'string' } },
        steps: [
          {
            sequential: [
              { id: 'find', agent: 'finder', input: { task: 'List companies [[reply:{{input.list}}]]' } },
              each({ items: '{{steps.find.output.companies}}', maxItems: 2 }),
            ],
          },
        ],
      },
      { name: 'narrow-truncate', input: names, steps: [each({ maxItems: 2, truncate: true })] },
      { name: 'objects', input: names, steps: [each({ step: { agent: 'detail', input: { task: 'Visit {{item.url}} for {{item.name}}' } } })] },
      {
        name: 'empty-skips',
        input: names,
        steps: [{ sequential: [each(), { id: 'after', agent: 'writer', input: { task: 'after {{steps.each.output}}' } }] }],
      },
      {
        name: 'empty-stops',
        input: names,
        steps: [{ sequential: [each({ stopWhenEmpty: true }), { id: 'after', agent: 'writer', input: { task: 'after' } }] }],
      },
    ],
  });
}, 30_000);

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function run(workflow: string, input: Record<string, unknown>): Promise<RunView> {
  const res = await h.request('POST', '/v1/runs', { workflow, input });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return h.waitForRun(res.body.id, 20_000);
}

const items = (r: RunView) => r.steps.filter((s) => s.parent === 'each');

describe('a forEach step', () => {
  it('runs one child per item of an earlier output, all at once, and answers with their outputs in item order', async () => {
    const r = await run('scan', { list: JSON.stringify({ companies: ['Acme', 'Globex', 'Initech'] }) });
    expect(r.status).toBe('succeeded');
    expect(items(r).map((s) => [s.stepId, s.status])).toEqual([
      ['each.0', 'succeeded'],
      ['each.1', 'succeeded'],
      ['each.2', 'succeeded'],
    ]);
    const each = r.steps.find((s) => s.stepId === 'each')!;
    expect(each.output).toEqual(['[detail] Detail Acme (0)', '[detail] Detail Globex (1)', '[detail] Detail Initech (2)']);
    // No concurrency bound: the three overlapped.
    const [a, b] = [items(r)[0]!, items(r)[2]!];
    expect(Date.parse(b.startedAt!)).toBeLessThan(Date.parse(a.finishedAt!));
    expect(r.steps.find((s) => s.stepId === 'report')!.output).toContain('Detail Globex (1)');
    await expectNoLiveJobs(h.system, r.id);
  });

  it('fails, naming SWITCHYARD_MAX_STEPS, when its items would take the run past it (adding none)', async () => {
    // 3 steps, and 1,000 items from the finder's answer: 1,003 > 1,000 (the default limit).
    const companies = Array.from({ length: 1000 }, (_, i) => `c${i}`);
    const r = await run('scan-wide', { list: JSON.stringify({ companies }) });
    expect(r.status).toBe('failed');
    expect(r.steps.find((s) => s.stepId === 'each')).toMatchObject({
      status: 'failed',
      error: 'step "each" would add 1000 steps to its run, which has 3: a run has at most 1000 steps (SWITCHYARD_MAX_STEPS)',
    });
    expect(items(r)).toEqual([]);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('runs at most `concurrency` items at once', async () => {
    const r = await run('lanes', { names: ['a', 'b', 'c', 'd', 'e', 'f'] });
    expect(r.status).toBe('succeeded');
    const spans = items(r).map((s) => [Date.parse(s.startedAt!), Date.parse(s.finishedAt!)] as const);
    const most = Math.max(...spans.map(([start]) => spans.filter(([s, e]) => s <= start && start < e).length));
    expect(most).toBeLessThanOrEqual(2);
    expect(most).toBe(2);
    expect(r.output).toEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((n, i) => `[detail] Detail ${n} (${i})`));
  });

  it('reads fields of object items', async () => {
    const r = await run('objects', { names: [{ name: 'Acme', url: 'acme.test' }] });
    expect(r.output).toEqual(['[detail] Visit acme.test for Acme']);
  });

  it('fails past maxItems, saying so, or takes the first maxItems with truncate', async () => {
    const failed = await run('narrow-output', { list: JSON.stringify({ companies: ['a', 'b', 'c'] }) });
    expect(failed.status).toBe('failed');
    expect(failed.steps.find((s) => s.stepId === 'each')!.error).toBe(
      '{{steps.find.output.companies}} has 3 items; at most maxItems 2 (truncate: true takes the first 2)',
    );
    // A list from the run input is counted at submit: refused with a 422 (it was accepted, then failed).
    const refused = await h.request('POST', '/v1/runs', { workflow: 'narrow', input: { names: ['a', 'b', 'c'] } });
    expect(refused.status).toBe(422);
    expect(refused.body.error.issues).toEqual([
      {
        path: 'steps.each.items',
        message: 'step "each": its list (from the run input) has 3 items; at most 2 (its maxItems; with truncate: true it takes the first 2)',
      },
    ]);
    const cut = await run('narrow-truncate', { names: ['a', 'b', 'c'] });
    expect(cut.status).toBe('succeeded');
    expect(cut.output).toEqual(['[detail] Detail a (0)', '[detail] Detail b (1)']);
    const completed = (await h.system.engine.store.events.read(h.system.scope(), cut.id)).find((e) => e.type === 'step.completed' && e.stepId === 'each');
    expect(completed?.data).toMatchObject({ items: 2, truncatedFrom: 3 });
  });

  it('is skipped, with the reason, on an empty list (and so are the steps that need it)', async () => {
    const r = await run('empty-skips', { names: [] });
    expect(r.status).toBe('succeeded');
    expect(r.steps.map((s) => [s.stepId, s.status, s.reason])).toEqual([
      ['each', 'skipped', '{{input.names}} is an empty list'],
      ['after', 'skipped', 'dependency "each" was skipped'],
    ]);
  });

  it('ends the whole run early, succeeded, on an empty list with stopWhenEmpty', async () => {
    const r = await run('empty-stops', { names: [] });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ stoppedEarly: { step: 'each', reason: '{{input.names}} is an empty list' } });
    expect(r.steps.map((s) => [s.stepId, s.status])).toEqual([
      ['each', 'skipped'],
      ['after', 'cancelled'],
    ]);
    expect(r.steps[1]!.reason).toBe('the run stopped early: {{input.names}} is an empty list');
    await expectNoLiveJobs(h.system, r.id);
  });

  it('fails when items is not a list', async () => {
    const r = await run('scan', { list: JSON.stringify({ companies: 'Acme' }) });
    expect(r.status).toBe('failed');
    expect(r.steps.find((s) => s.stepId === 'each')!.error).toBe('items {{steps.find.output.companies}} is not a list (it is a text that holds no JSON list)');
  });

  it('is refused at compile time when items is not one template, and {{item}} is refused outside a forEach', async () => {
    const res = await h.request('POST', '/v1/workflows/validate', {
      name: 'bad-each',
      steps: [
        { id: 'e', kind: 'forEach', items: 'companies: {{input.x}}', step: { agent: 'detail', input: { task: '{{item}}' } } },
        { id: 'a', agent: 'writer', input: { task: 'about {{item}}' } },
      ],
      input: { x: { type: 'array' } },
    });
    expect(res.status).toBe(422);
    const issues = res.body.error.issues.map((i: { path: string; message: string }) => [i.path, i.message]);
    expect(issues).toContainEqual(['steps[0].items', expect.stringContaining('must be one template giving a list')]);
    expect(issues).toContainEqual(['steps[1].input.task', expect.stringContaining('unknown template root "item"')]);
  });
});
