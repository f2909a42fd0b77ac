/**
 * The composite kinds (loop, forEach, plan, approval with revise) delivered again after their
 * delivery broke right after adding steps (as a worker lost there would): each attempt after
 * the first picks up from its checkpoint, adds no step twice and makes no model call again.
 * The break is injected around the real executors' `addSteps`, on the real engine and Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionContext, Executors, StepExecutor } from '../../src/kinds/executor.js';
import { startWorkerPools } from '../../src/engine/pools.js';
import { RetryableError } from '../../src/errors/index.js';
import type { RunView } from '../../src/query/run-view.js';
import type { StepKind } from '../../src/kinds/definition.js';
import { startFakeLlmServer, structuredReply, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'kinds-recovery',
    fake,
    pools: false,
    agents: {
      writer: { provider: 'anthropic', model: 'claude-w', attempts: 1 },
      critic: { provider: 'openai', model: 'gpt-critic', attempts: 1 },
      planner: { provider: 'anthropic', model: 'claude-plan', attempts: 3, backoff: { type: 'fixed', delayMs: 50 } },
      worker: { provider: 'echo', echo: { latencyMs: 20 } },
    },
    workflows: [
      {
        name: 'loop',
        steps: [{ id: 'refine', kind: 'loop', body: { agent: 'writer', input: { task: 'draft' } }, critic: { agent: 'critic' }, maxIterations: 2 }],
      },
      {
        name: 'each',
        input: { xs: { type: 'array' } },
        steps: [{ id: 'each', kind: 'forEach', items: '{{input.xs}}', step: { agent: 'worker', input: { task: 'do {{item}}' } } }],
      },
      { name: 'plan', steps: [{ id: 'plan', kind: 'plan', agent: 'planner', agents: ['worker'], input: { task: 'plan it' } }] },
      {
        name: 'gate',
        steps: [
          { id: 'draft', agent: 'worker', input: { task: 'draft' } },
          { id: 'gate', kind: 'approval', dependsOn: ['draft'], onReject: 'revise', review: 'draft' },
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

/** Each kind's delivery breaks right after its first `addSteps` of each attempt-1 segment. */
function breaking<K extends StepKind>(real: StepExecutor<K>): StepExecutor<K> {
  return {
    execute(step, ctx) {
      if (ctx.attempt > 1) return real.execute(step, ctx);
      const broken: ExecutionContext = {
        ...ctx,
        addSteps: async (children) => {
          await ctx.addSteps(children);
          throw new RetryableError('worker lost right after adding its steps');
        },
      };
      return real.execute(step, broken);
    },
  };
}

async function withBreakingPools<T>(fn: () => Promise<T>): Promise<T> {
  const pools = await startWorkerPools(h.system, {
    executors: (d: Executors) => ({ loop: breaking(d.loop), forEach: breaking(d.forEach), plan: breaking(d.plan), approval: breaking(d.approval) }),
  });
  try {
    return await fn();
  } finally {
    await pools.close(5_000);
  }
}

async function run(workflow: string, input: Record<string, unknown> = {}, during?: (id: string) => Promise<void>): Promise<RunView> {
  return withBreakingPools(async () => {
    const res = await h.request('POST', '/v1/runs', { workflow, input });
    expect(res.status).toBe(202);
    await during?.(res.body.id);
    return h.waitForRun(res.body.id, 30_000);
  });
}

const added = async (id: string) => (await h.system.engine.store.events.read(h.system.scope(), id)).filter((e) => e.type === 'step.added').map((e) => e.stepId);
const calls = (model: string) => fake.requests.filter((r) => r.body?.model === model).length;

describe('a composite step delivered again after it added steps', () => {
  it('loop: no iteration started twice, no draft or critique asked twice', async () => {
    fake.reset();
    fake.respondWith((r) =>
      r.body?.model === 'gpt-critic'
        ? structuredReply(r, { approved: false, feedback: 'again' })
        : r.body?.model === 'claude-w'
          ? { text: 'a draft' }
          : undefined,
    );
    const r = await run('loop');
    expect(r.status).toBe('succeeded');
    expect(r.output).toMatchObject({ iterations: 2, reason: 'maxIterations' });
    expect(await added(r.id)).toEqual(['refine.1.draft', 'refine.1.critique', 'refine.2.draft', 'refine.2.critique']);
    expect(calls('claude-w')).toBe(2);
    expect(calls('gpt-critic')).toBe(2);
    expect(r.steps.find((s) => s.stepId === 'refine')!.attempts).toBeGreaterThan(1);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('forEach: each item added and run once, outputs in order', async () => {
    const r = await run('each', { xs: ['a', 'b', 'c'] });
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual(['[worker] do a', '[worker] do b', '[worker] do c']);
    expect(await added(r.id)).toEqual(['each.0', 'each.1', 'each.2']);
    const completed = (await h.system.engine.store.events.read(h.system.scope(), r.id)).filter(
      (e) => e.type === 'step.completed' && e.stepId?.startsWith('each.'),
    );
    expect(completed).toHaveLength(3);
    expect(r.steps.find((s) => s.stepId === 'each')!.attempts).toBe(2);
  });

  it('plan: the planner asked once, the plan added once', async () => {
    fake.reset();
    fake.respondWith((r) =>
      r.body?.model === 'claude-plan'
        ? {
            toolCalls: [
              {
                name: 'plan',
                input: {
                  steps: [
                    { id: 'a', agent: 'worker', task: 'x' },
                    { id: 'b', agent: 'worker', task: 'y', dependsOn: ['a'] },
                  ],
                },
              },
            ],
          }
        : undefined,
    );
    const r = await run('plan');
    expect(r.status).toBe('succeeded');
    expect(calls('claude-plan')).toBe(1);
    expect(await added(r.id)).toEqual(['plan.a', 'plan.b']);
    expect(r.steps.find((s) => s.stepId === 'plan')!.attempts).toBe(2);
  });

  it('approval with revise: the revision added and run once', async () => {
    const r = await run('gate', {}, async (id) => {
      await h.waitUntil(id, (v) => v.status === 'waiting', 10_000);
      expect((await h.request('POST', `/v1/runs/${id}/steps/gate/reject`, { comment: 'redo' })).status).toBe(200);
      await h.waitUntil(id, (v) => v.status === 'waiting' && v.steps.some((s) => s.stepId === 'gate.1.revise' && s.status === 'succeeded'), 15_000);
      expect((await h.request('POST', `/v1/runs/${id}/steps/gate/approve`, {})).status).toBe(200);
    });
    expect(r.status).toBe('succeeded');
    expect(await added(r.id)).toEqual(['gate.1.revise']);
    expect(r.steps.find((s) => s.stepId === 'gate')!.attempts).toBe(2);
    expect(r.steps.find((s) => s.stepId === 'gate')!.output).toMatchObject({ approved: true, revisions: 1 });
  });
});
