/**
 * Bad and oversized input: every request a fuzzer found answered 500 (or accepted wrongly) is
 * a 4xx that names the problem, and a big submission does not hold up other requests. The
 * limits are the defaults (SWITCHYARD_MAX_STEPS 1000, SWITCHYARD_MAX_JSON_DEPTH 64).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'limits',
    agents: { a: { provider: 'echo' } },
    workflows: [
      { name: 'one', input: { topic: { type: 'string', required: false } }, steps: [{ id: 'only', agent: 'a', input: { task: 'x {{input.topic}}' } }] },
    ],
    bodyLimit: '5mb',
  });
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

const step = (id: string, extra: Record<string, unknown> = {}) => ({ id, agent: 'a', input: { task: id }, ...extra });
/** A value nested `depth` levels deep: {"x": {"x": ... 1}}. */
const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { x: v };
  return v;
};

describe('ids at the edge', () => {
  it('answers 404 naming a run id that cannot be one, for every route under /v1/runs/:id', async () => {
    for (const id of ['run_abc:s:only', 'run_x.only', 'run_ABC', 'RUN_1', `run_${'a'.repeat(100)}`]) {
      for (const [method, path] of [
        ['GET', `/v1/runs/${encodeURIComponent(id)}`],
        ['POST', `/v1/runs/${encodeURIComponent(id)}/cancel`],
        ['GET', `/v1/runs/${encodeURIComponent(id)}/events`],
      ] as const) {
        const res = await h.request(method, path);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.body.error.message).toContain('is not a run id');
      }
    }
  });
});

describe('depth and size', () => {
  it('refuses a body nested deeper than the limit with a 422 that says where', async () => {
    const res = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'deep', context: nested(4000) } });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('nested deeper than 64 levels');
    expect(res.body.error.issues[0].path).toMatch(/^input\.context(\.x)+$/);
  });

  it('refuses a workflow with more steps than the limit, before compiling it', async () => {
    const chain = { name: 'long', steps: [{ sequential: Array.from({ length: 5000 }, (_, i) => step(`s${i}`)) }] };
    const res = await h.request('POST', '/v1/runs', { workflow: chain, input: {} });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('5000 steps; at most 1000');
    const wide = { name: 'wide', steps: [{ parallel: Array.from({ length: 15_000 }, (_, i) => step(`p${i}`)) }] };
    const t0 = Date.now();
    const res2 = await h.request('POST', '/v1/workflows/validate', wide);
    expect(res2.status).toBe(422);
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it('refuses blocks nested deeper than the limit', async () => {
    const inner = JSON.stringify(step('inner'));
    const body = `{"name":"nest","steps":[${'{"sequential":['.repeat(3000)}${inner}${']}'.repeat(3000)}]}`;
    const res = await h.request('POST', '/v1/workflows/validate', body);
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('nested deeper than 64 levels');
  });

  it('compiles a workflow at the step limit quickly, whatever its shape', async () => {
    const chain = { name: 'chain-1000', steps: [{ sequential: Array.from({ length: 1000 }, (_, i) => step(`s${i}`)) }] };
    const fan = { name: 'fan-1000', steps: [{ sequential: [{ parallel: Array.from({ length: 999 }, (_, i) => step(`p${i}`)) }, step('join')] }] };
    for (const wf of [chain, fan]) {
      const t0 = Date.now();
      const res = await h.request('POST', '/v1/workflows/validate', wf);
      expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
      expect(res.body.workflow.steps).toHaveLength(1000);
      expect(Date.now() - t0).toBeLessThan(2_000);
    }
  });
});

describe('undeclared input fields', () => {
  it('refuses __proto__ like any other undeclared field (it used to be dropped silently)', async () => {
    const res = await h.request('POST', '/v1/runs', '{"workflow":"one","input":{"__proto__":{"polluted":true}}}');
    expect(res.status).toBe(422);
    expect(res.body.error.issues).toContainEqual({ path: 'input.__proto__', message: expect.stringContaining('unknown input field "__proto__"') });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps a __proto__ key inside a context as data', async () => {
    const res = await h.request('POST', '/v1/runs', '{"agent":"a","input":{"task":"t","context":{"__proto__":{"k":1}}}}');
    expect(res.status).toBe(202);
    const run = await h.waitForRun(res.body.id);
    expect(run.steps[0]!.output).toContain('"__proto__"');
  });

  it('refuses a workflow that declares an input field named __proto__', async () => {
    const res = await h.request(
      'POST',
      '/v1/workflows/validate',
      '{"name":"proto","input":{"__proto__":{"type":"string"}},"steps":[{"id":"s","agent":"a","input":{"task":"s"}}]}',
    );
    expect(res.status).toBe(422);
    expect(res.body.error.issues[0].path).toBe('input.__proto__');
  });
});

/**
 * What a request becomes once it runs, refused at submit where its input tells (issue 20):
 * a prompt rendered from the input, the steps forEach adds over it, and orchestration bounds
 * above what a request may ask for. No workers: a run accepted here would only wait.
 */
describe('what a request would become', () => {
  let s: Harness;

  beforeAll(async () => {
    s = await startHarness({
      name: 'limits-submit',
      pools: false,
      bodyLimit: '1mb',
      agents: {
        a: { provider: 'echo' },
        boss: { provider: 'echo', delegates: ['a'], orchestration: { maxDelegations: 4 } },
        free: { provider: 'echo', delegates: ['a'] },
      },
    });
    // Without workers nothing else waits for Redis: the API answers 503 until its connection is up.
    await poll(
      'the API connection',
      () => s.system.ping(),
      (up) => up,
    );
  });

  afterAll(async () => {
    await s?.close();
  });

  const runCount = async () => (await s.system.engine.store.records.list(s.system.scope(), { limit: 100 })).runs.length;

  it('refuses a small request that renders into a huge prompt with a 422 naming the limit, storing nothing', async () => {
    // The issue's request: 122 KB that rendered into a 200 MB prompt.
    const workflow = { name: 'balloon', input: { x: { type: 'string' } }, steps: [{ id: 'big', agent: 'a', input: { task: '{{input.x}}'.repeat(2000) } }] };
    const body = JSON.stringify({ workflow, input: { x: 'x'.repeat(100 * 1024) } });
    expect(body.length).toBeLessThan(125 * 1024);
    const before = await runCount();
    const res = await s.request('POST', '/v1/runs', body);
    expect(res.status).toBe(422);
    expect(res.body.error.message).toBe(
      `step "big": its input renders to ${2000 * 100 * 1024} bytes of text from the run input alone; at most ${1024 * 1024} (SWITCHYARD_MAX_RENDERED_BYTES)`,
    );
    expect(res.body.error.issues).toEqual([{ path: 'steps.big.input', message: res.body.error.message }]);
    expect(await runCount()).toBe(before);
    // The same template over a small input is fine.
    expect((await s.request('POST', '/v1/runs', { workflow, input: { x: 'x' } })).status).toBe(202);
  });

  it('counts the items of forEach steps over the input against SWITCHYARD_MAX_STEPS (10 forEach of 1,000 items: 422)', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => `i${i}`);
    const each = (id: string) => ({ id, kind: 'forEach', items: '{{input.items}}', maxItems: 1000, step: { agent: 'a', input: { task: 'do {{item}}' } } });
    const wide = { name: 'wide', input: { items: { type: 'array' } }, steps: Array.from({ length: 10 }, (_, i) => each(`e${i}`)) };
    const before = await runCount();
    const res = await s.request('POST', '/v1/runs', { workflow: wide, input: { items } });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toBe(
      'the run would have 10010 steps: 10 in its workflow and 10000 that its forEach steps add for this input ("e0" 1000, "e1" 1000, "e2" 1000, "e3" 1000, "e4" 1000, ...); at most 1000 (SWITCHYARD_MAX_STEPS)',
    );
    expect(res.body.error.issues[0].path).toBe('input');
    expect(await runCount()).toBe(before);
    // One forEach of 999 items fills the run to the limit exactly.
    const fits = { name: 'fits', input: { items: { type: 'array' } }, steps: [each('e0')] };
    expect((await s.request('POST', '/v1/runs', { workflow: fits, input: { items: items.slice(0, 999) } })).status).toBe(202);
  });

  it("caps orchestration a request asks for by the server maxima and the agent's own, with a 422 naming each", async () => {
    const step = (agent: string, orchestration: Record<string, unknown>) => ({
      name: 'orch',
      steps: [{ id: 'o', agent, input: { task: 't' }, orchestration }],
    });
    const high = await s.request('POST', '/v1/runs', { workflow: step('free', { maxDelegations: 1000, maxDepth: 10, maxTurns: 100 }), input: {} });
    expect(high.status).toBe(422);
    expect(high.body.error.issues).toEqual([
      { path: 'steps[0].orchestration.maxTurns', message: 'maxTurns 100 is more than a request may ask for: at most 20 (SWITCHYARD_MAX_ORCHESTRATOR_TURNS)' },
      {
        path: 'steps[0].orchestration.maxDelegations',
        message: 'maxDelegations 1000 is more than a request may ask for: at most 50 (SWITCHYARD_MAX_DELEGATIONS)',
      },
      { path: 'steps[0].orchestration.maxDepth', message: 'maxDepth 10 is more than a request may ask for: at most 3 (SWITCHYARD_MAX_DELEGATION_DEPTH)' },
    ]);
    // Never above what the agents file gives the agent.
    const own = await s.request('POST', '/v1/runs', { workflow: step('boss', { maxDelegations: 5 }), input: {} });
    expect(own.status).toBe(422);
    expect(own.body.error.issues).toEqual([
      {
        path: 'steps[0].orchestration.maxDelegations',
        message: 'maxDelegations 5 is more than agent "boss" allows: at most its own maxDelegations, 4 (a request may lower it, not raise it)',
      },
    ]);
    // Checking a definition says the same.
    expect((await s.request('POST', '/v1/workflows/validate', step('free', { maxDepth: 10 }))).status).toBe(422);
    // Within both: accepted.
    expect((await s.request('POST', '/v1/runs', { workflow: step('boss', { maxDelegations: 3, maxTurns: 12, maxDepth: 3 }), input: {} })).status).toBe(202);
  });
});

/**
 * An operator's caps bound every orchestrator step a request brings, also one that sets no
 * `orchestration` (it got the engine's defaults, 8 turns, 16 delegations, depth 2, whatever
 * the caps), and one that makes any agent an orchestrator by giving it `delegates`.
 */
describe('orchestration caps below the engine defaults', () => {
  let s: Harness;

  beforeAll(async () => {
    s = await startHarness({
      name: 'limits-caps',
      pools: false,
      agents: {
        a: { provider: 'echo' },
        b: { provider: 'echo' },
        boss: { provider: 'echo', delegates: ['a'], orchestration: { maxDelegations: 4, maxTurns: 2 } },
        free: { provider: 'echo', delegates: ['a'] },
      },
      env: { SWITCHYARD_MAX_DELEGATIONS: '2', SWITCHYARD_MAX_ORCHESTRATOR_TURNS: '3', SWITCHYARD_MAX_DELEGATION_DEPTH: '1' },
    });
  });

  afterAll(async () => {
    await s?.close();
  });

  const compiled = async (step: Record<string, unknown>) => {
    const res = await s.request('POST', '/v1/workflows/validate', { name: 'orch', steps: [{ id: 'o', input: { task: 't' }, ...step }] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.workflow.steps[0];
  };

  it('gives an orchestrator step the effective bounds, each at most the cap', async () => {
    // Any agent, made an orchestrator by the request.
    expect((await compiled({ agent: 'b', delegates: ['a'] })).orchestration).toEqual({ maxTurns: 3, maxDelegations: 2, maxDepth: 1 });
    // An agent that delegates by itself, with no bounds of its own.
    expect((await compiled({ agent: 'free' })).orchestration).toEqual({ maxTurns: 3, maxDelegations: 2, maxDepth: 1 });
    // The agent's own bounds where they are lower, the cap where they are higher.
    expect((await compiled({ agent: 'boss' })).orchestration).toEqual({ maxTurns: 2, maxDelegations: 2, maxDepth: 1 });
    // What the step asks for, within the caps.
    expect((await compiled({ agent: 'b', delegates: ['a'], orchestration: { maxDelegations: 1, onDelegateFailure: 'fail' } })).orchestration).toEqual({
      maxTurns: 3,
      maxDelegations: 1,
      maxDepth: 1,
      onDelegateFailure: 'fail',
    });
    // A step that does not delegate is left alone.
    expect((await compiled({ agent: 'a' })).orchestration).toBeUndefined();
  });
});
