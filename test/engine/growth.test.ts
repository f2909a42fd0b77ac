/**
 * Runs that grow: a running step adds a sub-DAG to its run and waits for it without holding a
 * worker slot, then resumes with the results. The step kind that does this in production comes
 * with the orchestration issue; here a test executor for `agent` steps named `plan` plays it,
 * through the same ExecutionContext every executor gets, on the real engine and Redis.
 */
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RetryableError } from '../../src/errors/index.js';
import type { ChildStep, StepExecutor } from '../../src/kinds/executor.js';
import { orderChildren } from '../../src/engine/growth.js';
import { startWorkerPools, type WorkerPools } from '../../src/engine/pools.js';
import type { RunView } from '../../src/query/run-view.js';
import type { CompiledStepOf } from '../../src/kinds/definition.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';

const child = (id: string, agent: string, dependsOn: string[] = [], extra: Partial<CompiledStepOf<'agent'>> = {}): ChildStep => ({
  id,
  kind: 'agent',
  agent,
  input: { task: `work of ${id}` },
  dependsOn,
  optional: false,
  allowSkippedDeps: false,
  reads: [],
  literal: true,
  ...extra,
});

/** The sub-DAG a plan adds: a diamond, `x` shared by `y` and `z`, joined by `w`. */
const diamond = (parent: string, agent: string, extra: Partial<CompiledStepOf<'agent'>> = {}, sinkExtra: Partial<CompiledStepOf<'agent'>> = {}) => [
  child(`${parent}.x`, agent),
  child(`${parent}.y`, agent, [`${parent}.x`]),
  child(`${parent}.z`, agent, [`${parent}.x`], extra),
  child(`${parent}.w`, agent, [`${parent}.y`, `${parent}.z`], sinkExtra),
];

interface PlanOptions {
  agent: string;
  /** On the first attempt, fail after adding the steps (as if the worker died before waiting). */
  failAfterAdding?: boolean;
  /** On the first attempt, fail once resumed (its children have all finished by then). */
  failOnResume?: boolean;
  zExtra?: Partial<CompiledStepOf<'agent'>>;
  /** Fields of the sink `w`, the child under the plan itself. */
  wExtra?: Partial<CompiledStepOf<'agent'>>;
  /** The steps it adds, instead of the diamond. */
  kids?: (parent: string) => ChildStep[];
}

/** `plan*` steps add a diamond and, once resumed, answer with their children's outputs. */
function planner(real: StepExecutor<'agent'>, opts: PlanOptions): StepExecutor<'agent'> {
  return {
    async execute(step, ctx) {
      if (!step.id.startsWith('plan') || step.id.includes('.')) return real.execute(step, ctx);
      const kids = opts.kids?.(step.id) ?? diamond(step.id, opts.agent, opts.zExtra, opts.wExtra);
      if (!ctx.resumed) {
        // Recorded before adding, so a delivery after a crash knows what it added.
        if (ctx.checkpoint === null) await ctx.saveCheckpoint({ added: kids.map((k) => k.id) });
        await ctx.addSteps(kids);
        if (opts.failAfterAdding && ctx.attempt === 1) throw new RetryableError('worker died right after adding its steps');
        return { type: 'wait' };
      }
      const { added } = ctx.checkpoint as { added: string[] };
      if (opts.failOnResume && ctx.attempt === 1) throw new RetryableError('failed after resuming');
      const results = await ctx.steps(added);
      return { type: 'succeeded', output: results.map((r) => `${r.stepId}=${r.status}:${r.output ?? r.error}`).join(' | ') };
    },
  };
}

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'growth',
    pools: false,
    agents: {
      // One slot for the parent and all its children: the parent must not hold it while it waits.
      solo: { provider: 'echo', concurrency: 1, attempts: 2, backoff: { type: 'fixed', delayMs: 50 } },
      lead: { provider: 'echo', attempts: 3, backoff: { type: 'fixed', delayMs: 100 } },
      // Retried late enough for the quick part of what it added to have finished.
      patient: { provider: 'echo', attempts: 2, backoff: { type: 'fixed', delayMs: 700 } },
      worker: { provider: 'echo', echo: { latencyMs: 20 } },
      sluggish: { provider: 'echo', echo: { latencyMs: 400 } },
      slow: { provider: 'echo', echo: { latencyMs: 2000 } },
      broken: { provider: 'openai', model: 'gpt-test', baseURL: 'http://127.0.0.1:1/v1', attempts: 1 },
    },
    workflows: [
      { name: 'solo-plan', steps: [{ id: 'plan', agent: 'solo', input: { task: 'plan it' } }] },
      { name: 'patient-plan', steps: [{ id: 'plan', agent: 'patient', input: { task: 'plan it' } }] },
      {
        name: 'optional-plan',
        steps: [
          {
            sequential: [
              { id: 'plan', agent: 'lead', optional: true, input: { task: 'plan it' } },
              { id: 'report', agent: 'worker', input: { task: 'report' } },
            ],
          },
        ],
      },
      {
        name: 'lead-plan',
        steps: [
          {
            sequential: [
              { id: 'brief', agent: 'worker', input: { task: 'brief' } },
              { id: 'plan', agent: 'lead', input: { task: 'plan it' } },
              { id: 'report', agent: 'worker', input: { task: 'report on {{steps.plan.output}}' } },
            ],
          },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

async function withPlanner<T>(opts: PlanOptions, fn: () => Promise<T>): Promise<T> {
  const pools: WorkerPools = await startWorkerPools(h.system, { executors: (d) => ({ agent: planner(d.agent, opts) }) });
  try {
    return await fn();
  } finally {
    await pools.close();
  }
}

const submit = async (workflow: string) => (await h.request('POST', '/v1/runs', { workflow, input: {} })).body.id as string;
const eventsOf = async (runId: string, stepId: string) =>
  (await h.system.engine.store.events.read(h.system.scope(), runId)).filter((e) => e.stepId === stepId).map((e) => e.type);
const statusOf = (run: RunView) => Object.fromEntries(run.steps.map((s) => [s.stepId, s.status]));
const stepOf = (run: RunView, id: string) => run.steps.find((s) => s.stepId === id)!;

describe('a step that adds steps to its run', () => {
  it('adds a sub-DAG, waits for it without holding its worker slot, and resumes with the results', async () => {
    const run = await withPlanner({ agent: 'solo' }, async () => h.waitForRun(await submit('solo-plan'), 15_000));
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe(
      'plan.x=succeeded:[solo] work of plan.x | plan.y=succeeded:[solo] work of plan.y | plan.z=succeeded:[solo] work of plan.z | plan.w=succeeded:[solo] work of plan.w',
    );
    expect(run.steps.map((s) => [s.stepId, s.parent, s.dependsOn])).toEqual([
      ['plan', null, []],
      ['plan.x', 'plan', []],
      ['plan.y', 'plan', ['plan.x']],
      ['plan.z', 'plan', ['plan.x']],
      ['plan.w', 'plan', ['plan.y', 'plan.z']],
    ]);
    // The DAG shows dependencies and the parent edges.
    expect(run.dag.edges).toEqual([
      { from: 'plan', to: 'plan.x', kind: 'parent' },
      { from: 'plan.x', to: 'plan.y' },
      { from: 'plan', to: 'plan.y', kind: 'parent' },
      { from: 'plan.x', to: 'plan.z' },
      { from: 'plan', to: 'plan.z', kind: 'parent' },
      { from: 'plan.y', to: 'plan.w' },
      { from: 'plan.z', to: 'plan.w' },
      { from: 'plan', to: 'plan.w', kind: 'parent' },
    ]);
    expect(await eventsOf(run.id, 'plan')).toEqual(['step.started', 'step.waiting', 'step.resumed', 'step.completed']);
    // The diamond's shared step ran once; each child was added once.
    for (const id of ['plan.x', 'plan.y', 'plan.z', 'plan.w']) expect(await eventsOf(run.id, id)).toEqual(['step.added', 'step.started', 'step.completed']);
    // The children started only once the parent had stopped running (one slot for all).
    const at = (id: string) => Date.parse(run.steps.find((s) => s.stepId === id)!.startedAt!);
    expect(run.steps.find((s) => s.stepId === 'plan')!.attempts).toBe(1);
    expect(at('plan.y')).toBeGreaterThanOrEqual(at('plan.x'));
    await expectNoLiveJobs(h.system, run.id);
  });

  it('keeps its place in a chain: its dependents wait for it, children included, and read its output', async () => {
    const run = await withPlanner({ agent: 'worker' }, async () => h.waitForRun(await submit('lead-plan'), 15_000));
    expect(run.status).toBe('succeeded');
    expect(run.agents).toEqual(['lead', 'worker']);
    const finished = (id: string) => Date.parse(run.steps.find((s) => s.stepId === id)!.finishedAt!);
    const started = (id: string) => Date.parse(run.steps.find((s) => s.stepId === id)!.startedAt!);
    expect(started('report')).toBeGreaterThanOrEqual(finished('plan.w'));
    expect(run.output).toBe(`[worker] report on ${run.steps.find((s) => s.stepId === 'plan')!.output as string}`);
  });

  it('adds nothing twice when it is delivered again after adding its steps', async () => {
    const run = await withPlanner({ agent: 'worker', failAfterAdding: true }, async () => h.waitForRun(await submit('lead-plan'), 15_000));
    expect(run.status).toBe('succeeded');
    const plan = run.steps.find((s) => s.stepId === 'plan')!;
    expect(plan.attempts).toBe(2);
    expect(run.steps.filter((s) => s.parent === 'plan')).toHaveLength(4);
    // Each added once, in the order they were added (the run's steps list, kept as it was when compacted).
    expect(run.steps.map((s) => s.stepId)).toEqual(['brief', 'plan', 'report', 'plan.x', 'plan.y', 'plan.z', 'plan.w']);
    for (const id of ['plan.x', 'plan.y', 'plan.z', 'plan.w']) expect(await eventsOf(run.id, id)).toEqual(['step.added', 'step.started', 'step.completed']);
    expect((await eventsOf(run.id, 'plan')).filter((t) => t === 'step.started')).toHaveLength(2);
    await expectNoLiveJobs(h.system, run.id);
  });

  it('is woken by a child that failed when the child is optional, and decides itself (the run ends partial_success)', async () => {
    const run = await withPlanner({ agent: 'worker', zExtra: { agent: 'broken', optional: true } }, async () =>
      h.waitForRun(await submit('lead-plan'), 15_000),
    );
    expect(run.status).toBe('partial_success');
    // An optional step's failure lets its dependents run, as in a top-level DAG.
    expect(statusOf(run)).toMatchObject({ plan: 'succeeded', 'plan.z': 'failed', 'plan.w': 'succeeded', report: 'succeeded' });
    expect(run.steps.find((s) => s.stepId === 'plan')!.output).toContain('plan.z=failed:openai connection failed');
    expect(run.failedSteps.map((f) => [f.stepId, f.agent])).toEqual([['plan.z', 'broken']]);
    await expectNoLiveJobs(h.system, run.id);
  });

  it('ends its run when a required child fails, like any required step: the parent is cancelled, no job is left', async () => {
    await withPlanner({ agent: 'worker', zExtra: { agent: 'broken' } }, async () => {
      const run = await h.waitForRun(await submit('lead-plan'), 15_000);
      expect(run.status).toBe('failed');
      expect(run.error).toContain('step "plan.z" failed');
      expect(statusOf(run)).toMatchObject({ plan: 'cancelled', 'plan.z': 'failed', report: 'cancelled' });
      // The rest of the flow drains (the parent wakes, sees its run ended, and returns).
      await expectNoLiveJobs(h.system, run.id);
    });
  });
});

describe('a step that adds steps to its run, when its delivery goes wrong', () => {
  it('re-adds nothing, and is not stranded, when a later attempt finds a child of its own that failed', async () => {
    // plan.w (optional, the job right under plan) fails; plan resumes, fails, and its next
    // attempt adds its steps again: the failed job must not become a pending child again.
    await withPlanner({ agent: 'worker', wExtra: { agent: 'broken', optional: true }, failOnResume: true }, async () => {
      const run = await h.waitForRun(await submit('lead-plan'), 15_000);
      expect(run.status).toBe('partial_success');
      expect(stepOf(run, 'plan')).toMatchObject({ status: 'succeeded', attempts: 2 });
      expect(stepOf(run, 'plan').output).toContain('plan.w=failed');
      await expectNoLiveJobs(h.system, run.id);
    });
  });

  it('is not stranded when a later attempt finds a finished child gone, a failed one kept and another still running', async () => {
    // plan adds two sinks: s (on an optional x that fails) and t (slow). Its first delivery dies
    // after adding them; when the next one comes, s has finished (its job removed), x has
    // failed (its job kept) and t still runs. Adding s's tree again would put the failed x
    // back among s's pending children, for good: s is added again alone.
    const kids = (p: string) => [child(`${p}.x`, 'broken', [], { optional: true }), child(`${p}.s`, 'worker', [`${p}.x`]), child(`${p}.t`, 'slow')];
    await withPlanner({ agent: 'worker', kids, failAfterAdding: true }, async () => {
      const run = await h.waitForRun(await submit('patient-plan'), 15_000);
      expect(run.status).toBe('partial_success');
      expect(statusOf(run)).toMatchObject({ plan: 'succeeded', 'plan.x': 'failed', 'plan.s': 'succeeded', 'plan.t': 'succeeded' });
      expect(stepOf(run, 'plan').attempts).toBe(2);
      // The second delivery came while t still ran (else nothing would have been added again).
      expect(Date.parse(stepOf(run, 'plan.t').finishedAt!)).toBeGreaterThan(Date.parse(stepOf(run, 'plan.s').finishedAt!));
      // s answered once: its job, added again, found it finished.
      expect(await eventsOf(run.id, 'plan.s')).toEqual(['step.added', 'step.started', 'step.completed']);
      await expectNoLiveJobs(h.system, run.id);
    });
  });

  it('parks again, instead of resuming early, when it is delivered while its children still run', async () => {
    // The worker loses its lock between recording `waiting` and parking the job.
    const park = vi.spyOn(Job.prototype, 'moveToWaitingChildren').mockRejectedValueOnce(new Error('Missing lock for job; moveToWaitingChildren'));
    try {
      await withPlanner({ agent: 'sluggish' }, async () => {
        const run = await h.waitForRun(await submit('lead-plan'), 20_000);
        expect(run.status).toBe('succeeded');
        // Resumed only once every child had finished: each shows in the output as succeeded.
        expect((stepOf(run, 'plan').output as string).match(/=succeeded:/g)).toHaveLength(4);
        const finishedLast = Math.max(...run.steps.filter((x) => x.parent === 'plan').map((x) => Date.parse(x.finishedAt!)));
        expect(Date.parse(stepOf(run, 'plan').finishedAt!)).toBeGreaterThanOrEqual(finishedLast);
        await expectNoLiveJobs(h.system, run.id);
      });
    } finally {
      park.mockRestore();
    }
  });

  it('makes the steps an optional step adds optional: their failure fails that step, never the run', async () => {
    await withPlanner({ agent: 'worker', zExtra: { agent: 'broken' } }, async () => {
      const run = await h.waitForRun(await submit('optional-plan'), 15_000);
      expect(run.status).toBe('partial_success');
      expect(stepOf(run, 'plan.z')).toMatchObject({ status: 'failed', optional: true });
      expect(stepOf(run, 'report').status).toBe('succeeded');
      await expectNoLiveJobs(h.system, run.id);
    });
  });
});

describe('a step that would add more steps than its run may have', () => {
  it('fails naming SWITCHYARD_MAX_STEPS, adding none of them', async () => {
    // One step, and 1,000 added: 1,001 > 1,000 (the default limit).
    const kids = (parent: string) => Array.from({ length: 1000 }, (_, i) => child(`${parent}.k${i}`, 'worker'));
    const run = await withPlanner({ agent: 'worker', kids }, async () => h.waitForRun(await submit('solo-plan'), 15_000));
    expect(run.status).toBe('failed');
    expect(stepOf(run, 'plan')).toMatchObject({
      status: 'failed',
      error: 'step "plan" would add 1000 steps to its run, which has 1: a run has at most 1000 steps (SWITCHYARD_MAX_STEPS)',
    });
    expect(run.steps.map((s) => s.stepId)).toEqual(['plan']);
    expect(await eventsOf(run.id, 'plan.k0')).toEqual([]);
    await expectNoLiveJobs(h.system, run.id);
  });
});

describe('orderChildren', () => {
  it('orders added steps topologically and refuses ids outside the parent, unknown dependencies and cycles', () => {
    const [x, y, z, w] = diamond('p', 'worker');
    expect(orderChildren('p', [w!, z!, y!, x!]).map((s) => s.id)).toEqual(['p.x', 'p.y', 'p.z', 'p.w']);
    expect(() => orderChildren('p', [child('q.a', 'worker')])).toThrow('"q.a" is not below "p"');
    expect(() => orderChildren('p', [child('p.a', 'worker', ['p.zz'])])).toThrow('"p.a" depends on "p.zz", which is not among the steps added with it');
    expect(() => orderChildren('p', [child('p.a', 'worker', ['p.b']), child('p.b', 'worker', ['p.a'])])).toThrow('cycle: p.a → p.b → p.a');
    // Ids are job-id and key parts: `:`, `,`, `=` and `~` never get in.
    for (const bad of ['p.a:b', 'p.a,b', 'p.a=b', 'p.a~b'])
      expect(() => orderChildren('p', [child(bad, 'worker')])).toThrow(`"${bad}" is not a valid step: id:`);
  });
});
