/**
 * What a run becomes is bounded while it runs, where its input alone cannot tell at submit:
 * a rendered input past SWITCHYARD_MAX_RENDERED_BYTES, an output past
 * SWITCHYARD_MAX_OUTPUT_BYTES, a `when` that builds a huge string, and steps added at run time
 * past SWITCHYARD_MAX_STEPS each fail the step, naming the limit; nothing past a bound is
 * stored. Small limits here (on the real engine and Redis, agents on echo) keep it quick.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetryableError } from '../../src/errors/index.js';
import type { ChildStep, StepExecutor } from '../../src/kinds/executor.js';
import { startWorkerPools } from '../../src/engine/pools.js';
import type { RunView } from '../../src/query/run-view.js';
import { evaluateWhen } from '../../src/lang/evaluate.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';

const RENDERED = 64 * 1024;
const OUTPUT = 16 * 1024;
const STEPS = 8;
/** `steps.a.output` added to itself 7 times: 8 copies. */
const eightCopies = Array.from({ length: 8 }, () => 'steps.a.output').join(' + ');

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'bounds',
    // `lead` runs only in the pools of the test that needs it (with its own executor).
    pools: ['w'],
    env: { SWITCHYARD_MAX_RENDERED_BYTES: String(RENDERED), SWITCHYARD_MAX_OUTPUT_BYTES: String(OUTPUT), SWITCHYARD_MAX_STEPS: String(STEPS) },
    agents: {
      w: { provider: 'echo', concurrency: 8 },
      lead: { provider: 'echo', attempts: 2, backoff: { type: 'fixed', delayMs: 50 } },
    },
    workflows: [
      {
        name: 'relay',
        input: { x: { type: 'string' } },
        steps: [
          {
            sequential: [
              { id: 'a', agent: 'w', input: { task: '{{input.x}}' } },
              { id: 'b', agent: 'w', input: { task: '{{steps.a.output}}'.repeat(8) } },
            ],
          },
        ],
      },
      { name: 'loud', input: { x: { type: 'string' } }, steps: [{ id: 'a', agent: 'w', input: { task: '{{input.x}}' } }] },
      {
        name: 'when-big',
        input: { x: { type: 'string' } },
        steps: [
          {
            sequential: [
              { id: 'a', agent: 'w', input: { task: '{{input.x}}' } },
              { id: 'c', agent: 'w', when: `len(${eightCopies}) > 0`, input: { task: 'c' } },
            ],
          },
        ],
      },
      {
        name: 'fan',
        input: { list: { type: 'string' } },
        steps: [
          {
            sequential: [
              { id: 'find', agent: 'w', input: { task: '{{input.list}}' } },
              { id: 'each', kind: 'forEach', items: '{{steps.find.output.items}}', step: { agent: 'w', input: { task: 'item {{item}}' } } },
            ],
          },
        ],
      },
      {
        name: 'gather',
        input: { x: { type: 'string' } },
        steps: [
          ...Array.from({ length: 7 }, (_, i) => ({ id: `a${i}`, agent: 'w', input: { task: '{{input.x}}' } })),
          { id: 's', kind: 'synthesize', agent: 'w', dependsOn: Array.from({ length: 7 }, (_, i) => `a${i}`), input: { task: 'sum up' } },
        ],
      },
      {
        name: 'grow-to-limit',
        steps: [
          {
            sequential: [
              { id: 'brief', agent: 'w', input: { task: 'brief' } },
              { id: 'plan', agent: 'lead', input: { task: 'plan it' } },
              { id: 'report', agent: 'w', input: { task: 'report' } },
            ],
          },
        ],
      },
    ],
  });
}, 30_000);

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

async function run(workflow: string, input: Record<string, unknown> = {}): Promise<RunView> {
  const res = await h.request('POST', '/v1/runs', { workflow, input });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return h.waitForRun(res.body.id, 20_000);
}

const stepOf = (r: RunView, id: string) => r.steps.find((s) => s.stepId === id)!;

describe('a step whose input renders past SWITCHYARD_MAX_RENDERED_BYTES at run time', () => {
  it('fails naming the limit (an upstream output repeated), and stores no rendered input', async () => {
    // 10 KB in: `a` answers about 10 KB; `b` reads it 8 times, about 80 KB.
    const r = await run('relay', { x: 'y'.repeat(10_000) });
    expect(r.status).toBe('failed');
    expect(stepOf(r, 'a').status).toBe('succeeded');
    expect(stepOf(r, 'b')).toMatchObject({ status: 'failed', input: null, output: null });
    expect(stepOf(r, 'b').error).toBe(`could not render the step input: it renders to more than ${RENDERED} bytes of text (SWITCHYARD_MAX_RENDERED_BYTES)`);
    await expectNoLiveJobs(h.system, r.id);
  });
});

describe('a step whose input, with what is added to it, is past SWITCHYARD_MAX_RENDERED_BYTES', () => {
  it('fails naming the limit before its prompt is built (a synthesis of 7 outputs of 10 KB)', async () => {
    const r = await run('gather', { x: 'y'.repeat(10_000) });
    expect(r.status).toBe('failed');
    expect(r.steps.filter((s) => s.status === 'succeeded')).toHaveLength(7);
    expect(stepOf(r, 's')).toMatchObject({ status: 'failed', output: null });
    expect(stepOf(r, 's').error).toBe(`the step input, its context included, is more than ${RENDERED} bytes of text (SWITCHYARD_MAX_RENDERED_BYTES)`);
    await expectNoLiveJobs(h.system, r.id);
  });
});

describe('a step whose output is past SWITCHYARD_MAX_OUTPUT_BYTES', () => {
  it('fails naming the limit; the output is not stored', async () => {
    const r = await run('loud', { x: 'z'.repeat(20_000) });
    expect(r.status).toBe('failed');
    expect(stepOf(r, 'a')).toMatchObject({ status: 'failed', output: null });
    expect(stepOf(r, 'a').error).toBe(`the step's output is more than ${OUTPUT} bytes (SWITCHYARD_MAX_OUTPUT_BYTES); it is not stored`);
    expect(r.output).toBeNull();
    await expectNoLiveJobs(h.system, r.id);
  });
});

describe('a `when` that builds a huge string', () => {
  it('fails the step cleanly, naming the limit, instead of building it', async () => {
    const r = await run('when-big', { x: 'y'.repeat(10_000) });
    expect(r.status).toBe('failed');
    expect(stepOf(r, 'c').status).toBe('failed');
    expect(stepOf(r, 'c').error).toMatch(
      new RegExp(`^could not evaluate when: when ".*": it builds a text of more than ${RENDERED} bytes \\(SWITCHYARD_MAX_RENDERED_BYTES\\)$`),
    );
    await expectNoLiveJobs(h.system, r.id);
  });

  it('measures a string before it builds it: a chain over a 1 MB output stops at the bound', () => {
    const big = 'q'.repeat(1024 * 1024);
    const scope = { input: {}, steps: { a: { status: 'succeeded', output: big } }, maxBytes: 3 * 1024 * 1024 };
    // Three copies fit; a fourth is refused before it is made.
    expect(evaluateWhen('len(steps.a.output + steps.a.output + steps.a.output) > 0', scope)).toBe(true);
    expect(() => evaluateWhen('len(steps.a.output + steps.a.output + steps.a.output + steps.a.output) > 0', scope)).toThrow(
      `it builds a text of more than ${3 * 1024 * 1024} bytes (SWITCHYARD_MAX_RENDERED_BYTES)`,
    );
    expect(() => evaluateWhen('lower(steps.a.output) == ""', { ...scope, maxBytes: 1024 })).toThrow('SWITCHYARD_MAX_RENDERED_BYTES');
  });
});

describe('steps added at run time count against SWITCHYARD_MAX_STEPS', () => {
  it('a forEach over an earlier output that would pass the limit fails naming it, and adds no item', async () => {
    // 2 steps, plus 10 items: 12 > 8. Knowable only once `find` has answered.
    const r = await run('fan', { list: JSON.stringify({ items: Array.from({ length: 10 }, (_, i) => `i${i}`) }) });
    expect(r.status).toBe('failed');
    expect(stepOf(r, 'each').error).toBe(`step "each" would add 10 steps to its run, which has 2: a run has at most ${STEPS} steps (SWITCHYARD_MAX_STEPS)`);
    expect(r.steps.map((s) => s.stepId)).toEqual(['find', 'each']);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('a forEach that fits runs', async () => {
    const r = await run('fan', { list: JSON.stringify({ items: ['a', 'b', 'c'] }) });
    expect(r.status).toBe('succeeded');
    expect(r.steps).toHaveLength(5);
  });

  it('a step delivered again after adding its steps at the limit re-adds them without counting them twice', async () => {
    // 3 steps and 5 added: 8, the limit. Its first attempt dies after adding them.
    const kids = (parent: string): ChildStep[] =>
      Array.from({ length: 5 }, (_, i) => ({
        id: `${parent}.k${i}`,
        kind: 'agent',
        agent: 'w',
        input: { task: `kid ${i}` },
        dependsOn: [],
        optional: false,
        allowSkippedDeps: false,
        reads: [],
        literal: true,
      }));
    const planner = (real: StepExecutor<'agent'>): StepExecutor<'agent'> => ({
      async execute(step, ctx) {
        if (step.id !== 'plan') return real.execute(step, ctx);
        if (ctx.resumed) return { type: 'succeeded', output: (await ctx.steps(kids('plan').map((k) => k.id))).map((s) => s.status).join(',') };
        await ctx.addSteps(kids('plan'));
        if (ctx.attempt === 1) throw new RetryableError('worker lost right after adding its steps');
        return { type: 'wait' };
      },
    });
    const pools = await startWorkerPools(h.system, { agents: ['lead'], internal: false, executors: (d) => ({ agent: planner(d.agent) }) });
    try {
      const r = await run('grow-to-limit');
      expect(r.status, JSON.stringify(r.steps.map((s) => [s.stepId, s.status, s.error]))).toBe('succeeded');
      expect(r.steps).toHaveLength(STEPS);
      expect(stepOf(r, 'plan')).toMatchObject({ attempts: 2, output: 'succeeded,succeeded,succeeded,succeeded,succeeded' });
    } finally {
      await pools.close();
    }
  });
});
