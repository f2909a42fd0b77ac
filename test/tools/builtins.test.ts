/**
 * The built-in tools `emit_output` and `publish_context`, called as the agent tool loop calls
 * them: through their AgentTool, with the real ExecutionContext of a step running on the real
 * engine and Redis (a test executor for `agent` steps plays the model and makes the calls; the
 * loop that lets a model make them is the agent kind's). What they keep is read back through the
 * HTTP API: `GET /v1/runs/:id/outputs`, the run record, `GET /v1/runs/:id/context`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerPools, type WorkerPools } from '../../src/engine/pools.js';
import type { CompiledStepOf } from '../../src/kinds/definition.js';
import type { ExecutionContext, StepExecutor } from '../../src/kinds/executor.js';
import { createBuiltins, EMIT_OUTPUT_TOOL, PUBLISH_CONTEXT_TOOL } from '../../src/tools/builtins/index.js';
import type { ToolCallScope, ToolOutcome } from '../../src/tools/tool.js';
import { MAX_WORK_OUTPUT_BYTES } from '../../src/model/work-output.js';
import { StaleAttemptError } from '../../src/errors/index.js';
import { keys } from '../../src/store/keys.js';
import { createClient } from '../../src/client/index.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

/** The YAML blocks of docs/tools-builtins.md: the agents file's, then the workflow's (run below as they are shown). */
const [DOC_AGENTS, DOC_WORKFLOW] = [...readFileSync('docs/tools-builtins.md', 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map(
  (m) => parseYaml(m[1]!) as Record<string, any>,
);

let h: Harness;
let pools: WorkerPools;
let acme: Record<string, string>;
let beta: Record<string, string>;
/** What each test step's calls came to, by step id (its tool outcomes, in order). */
const seen = new Map<string, (ToolOutcome | string)[]>();

const scopeOf = (ctx: ExecutionContext, stepId: string, turn: number, callId: string): ToolCallScope => ({
  runId: ctx.runId,
  stepId,
  workspace: ctx.workspaceId,
  turn,
  callId,
  idempotencyKey: `${ctx.runId}.${stepId}.${turn}.${callId}`,
  signal: ctx.signal,
});

/** The calls a step makes, as a model's answers would ask for them: [turn, call id, tool, args]. */
type Script = [turn: number, callId: string, tool: string, args: unknown][];

const SCRIPTS: Record<string, Script> = {
  emit: [
    [1, 'c1', EMIT_OUTPUT_TOOL, { name: 'Positioning Strategy', content: '# Position\nfirst' }],
    // The same call delivered again (a turn redelivered after a crash): one output, unchanged.
    [1, 'c1', EMIT_OUTPUT_TOOL, { name: 'Positioning Strategy', content: '# Position\nfirst' }],
    [1, 'c2', EMIT_OUTPUT_TOOL, { name: 'figures', format: 'json', content: { share: 0.25, rivals: ['a', 'b'] } }],
    // A later call of the same step with the same name replaces its own output.
    [2, 'c1', EMIT_OUTPUT_TOOL, { name: 'figures', format: 'json', content: '{"share": 0.3}' }],
  ],
  bad: [
    [1, 'c1', EMIT_OUTPUT_TOOL, { name: '', content: 'x' }],
    [1, 'c2', EMIT_OUTPUT_TOOL, { name: 'big', content: 'x'.repeat(MAX_WORK_OUTPUT_BYTES + 1) }],
    [1, 'c3', EMIT_OUTPUT_TOOL, { name: 'broken', format: 'json', content: '{not json' }],
    [1, 'c4', EMIT_OUTPUT_TOOL, { name: 'obj', format: 'markdown', content: { a: 1 } }],
  ],
  draft: [
    [1, 'c1', PUBLISH_CONTEXT_TOOL, { name: 'summary', value: { verdict: 'go', score: 7 } }],
    [1, 'c2', PUBLISH_CONTEXT_TOOL, { name: 'undeclared', value: 1 }],
    [2, 'c1', PUBLISH_CONTEXT_TOOL, { name: 'summary', value: { verdict: 'go', score: 8 } }],
  ],
  unpublishing: [[1, 'c1', PUBLISH_CONTEXT_TOOL, { name: 'summary', value: 'x' }]],
  first: [[1, 'c1', EMIT_OUTPUT_TOOL, { name: 'notes', format: 'text', content: 'from the first of two steps' }]],
  decide: [[1, 'c1', PUBLISH_CONTEXT_TOOL, { name: 'summary', value: { verdict: 'launch', score: 9 } }]],
  failing: [[1, 'c1', PUBLISH_CONTEXT_TOOL, { name: 'summary', value: 'from a step that fails' }]],
};

/** Plays the model of the steps named in SCRIPTS through the built-ins; other steps run as agents do. */
function scripted(agent: StepExecutor<'agent'>): StepExecutor<'agent'> {
  return {
    async execute(step: CompiledStepOf<'agent'>, ctx: ExecutionContext) {
      const script = SCRIPTS[step.id];
      if (!script) return agent.execute(step, ctx);
      const builtins = createBuiltins({ outputs: h.system.engine.store.outputs, drafts: h.system.engine.store.drafts, scopeOf: (ws) => h.system.scope(ws) });
      const outcomes: (ToolOutcome | string)[] = [];
      for (const [turn, callId, name, args] of script) outcomes.push(await builtins.get(name)!(ctx).call(args, scopeOf(ctx, step.id, turn, callId)));
      if (step.id === 'emit') {
        // While the run is live, the listing reads its hash.
        outcomes.push(
          JSON.stringify((await h.request('GET', `/v1/runs/${ctx.runId}/outputs`, undefined, acme)).body.outputs.map((o: { name: string }) => o.name)),
        );
        // A worker whose attempt was taken over keeps nothing.
        const stale = builtins.get(EMIT_OUTPUT_TOOL)!({ ...ctx, attempt: ctx.attempt + 1 });
        await expect(stale.call({ name: 'late', content: 'x' }, scopeOf(ctx, step.id, 3, 'c1'))).rejects.toBeInstanceOf(StaleAttemptError);
      }
      seen.set(step.id, outcomes);
      if (step.id === 'failing') throw new Error('the model gave up');
      return { type: 'succeeded', output: `done: ${step.id}`, model: 'scripted' };
    },
  };
}

beforeAll(async () => {
  h = await startHarness({
    name: 'builtins',
    agents: {
      thinker: { provider: 'echo', tools: ['emit_output', 'publish_context'], attempts: 1 },
      writer: { provider: 'echo' },
      // The guide's partner, on the echo provider (its model is played by the executor above).
      partner: { provider: 'echo', tools: DOC_AGENTS!.agents.partner.tools },
    },
    workflows: [
      { name: 'emit', steps: [{ id: 'emit', agent: 'thinker', input: { task: 'think' } }] },
      { name: 'bad', steps: [{ id: 'bad', agent: 'thinker', input: { task: 'think' } }] },
      {
        name: 'drafting',
        steps: [
          { id: 'draft', agent: 'thinker', input: { task: 'decide' }, publish: ['summary', 'undeclared-not'] },
          { id: 'use', agent: 'writer', dependsOn: ['draft'], input: { task: 'verdict {{context.summary.verdict}} score {{context.summary.score}}' } },
        ],
      },
      DOC_WORKFLOW!,
      {
        name: 'two-steps',
        steps: [
          { id: 'first', agent: 'thinker', input: { task: 'think' } },
          { id: 'second', agent: 'writer', dependsOn: ['first'], input: { task: 'write' } },
        ],
      },
      { name: 'unpublishing', steps: [{ id: 'unpublishing', agent: 'thinker', input: { task: 'decide' } }] },
      {
        name: 'failing',
        steps: [{ id: 'failing', agent: 'thinker', input: { task: 'decide' }, publish: ['summary'], optional: true }],
      },
    ],
    pools: false,
  });
  pools = await startWorkerPools(h.system, { executors: (d) => ({ agent: scripted(d.agent) }) });
  const key = async (workspace: string) => ({
    authorization: `Bearer ${(await h.system.keys.create({ workspace, scopes: ['runs:write', 'runs:read'] })).key}`,
  });
  acme = await key('acme');
  beta = await key('beta');
}, 30_000);

afterAll(async () => {
  await pools?.close();
  await h?.close();
  assertAllClosed();
});

async function run(workflow: string): Promise<string> {
  const res = await h.request('POST', '/v1/runs', { workflow, input: {} }, acme);
  expect(res.status).toBe(202);
  await poll(
    `run ${res.body.id} to finish`,
    async () => (await h.request('GET', `/v1/runs/${res.body.id}`, undefined, acme)).body.status,
    (status) => ['succeeded', 'failed', 'partial_success'].includes(status),
    { timeoutMs: 20_000 },
  );
  return res.body.id as string;
}

describe('emit_output', () => {
  let runId: string;
  beforeAll(async () => {
    runId = await run('emit');
  }, 30_000);

  it('keeps one output per call and per (step, name): a call delivered again adds nothing, a later one replaces', async () => {
    expect(seen.get('emit')!.slice(0, 4)).toEqual([
      { content: 'Kept output "Positioning Strategy" (markdown, 16 bytes) on the run.' },
      { content: 'Kept output "Positioning Strategy" (markdown, 16 bytes) on the run.' },
      { content: expect.stringContaining('Kept output "figures" (json,') },
      { content: 'Replaced your earlier output "figures" (json, 14 bytes).' },
    ]);
    // Read while the run was live.
    expect(seen.get('emit')![4]).toBe('["Positioning Strategy","figures"]');
    // Read once it finished (compacted into its one hash).
    const res = await h.request('GET', `/v1/runs/${runId}/outputs`, undefined, acme);
    expect(res.status).toBe(200);
    expect(res.body.runId).toBe(runId);
    const [strategy, figures] = res.body.outputs;
    expect(res.body.outputs).toHaveLength(2);
    expect(strategy).toMatchObject({
      name: 'Positioning Strategy',
      format: 'markdown',
      content: '# Position\nfirst',
      stepId: 'emit',
      turn: 1,
      updatedAt: null,
    });
    expect(strategy.callKey).toBe(`${runId}.emit.1.c1`);
    expect(figures).toMatchObject({ name: 'figures', format: 'json', content: '{"share": 0.3}', stepId: 'emit', turn: 2 });
    expect(Date.parse(figures.updatedAt)).toBeGreaterThanOrEqual(Date.parse(figures.createdAt));
  });

  it('shows the outputs on the run record, tells them as events, and leaves them out of listings', async () => {
    const run = (await h.request('GET', `/v1/runs/${runId}`, undefined, acme)).body;
    expect(run.outputs.map((o: { name: string }) => o.name)).toEqual(['Positioning Strategy', 'figures']);
    const events = await h.system.engine.store.events.read(h.system.scope('acme'), runId);
    expect(events.filter((e) => e.type === 'output.emitted').map((e) => [e.stepId, e.data])).toEqual([
      ['emit', { name: 'Positioning Strategy', format: 'markdown', replaced: false }],
      ['emit', { name: 'figures', format: 'json', replaced: false }],
      ['emit', { name: 'figures', format: 'json', replaced: true }],
    ]);
    const listed = (await h.request('GET', '/v1/runs?limit=5', undefined, acme)).body.runs.find((r: { id: string }) => r.id === runId);
    expect(listed).toBeDefined();
    expect(listed.outputs).toBeUndefined();
  });

  it('keeps the outputs of a run of several steps once it is finished and compacted', async () => {
    const id = await run('two-steps');
    const res = await h.request('GET', `/v1/runs/${id}/outputs`, undefined, acme);
    expect(res.body.outputs).toEqual([expect.objectContaining({ name: 'notes', format: 'text', content: 'from the first of two steps', stepId: 'first' })]);
    // Compacted: the run's steps live in its one hash now.
    expect(await h.system.engine.store.redis.hexists(keys.run(h.system.scope('acme'), id), 'steps')).toBe(1);
  });

  it('is read by the client', async () => {
    const client = createClient({ url: h.baseUrl, key: acme.authorization!.slice('Bearer '.length) });
    expect((await client.runs.outputs(runId)).map((o) => o.name)).toEqual(['Positioning Strategy', 'figures']);
  });

  it("answers 404 for another workspace's run, and for a run that does not exist", async () => {
    const other = await h.request('GET', `/v1/runs/${runId}/outputs`, undefined, beta);
    expect(other.status).toBe(404);
    expect(JSON.stringify(other.body)).not.toContain('Position');
    expect((await h.request('GET', '/v1/runs/run_0mx55q17idf6fdb956c48/outputs', undefined, acme)).status).toBe(404);
  });

  it('gives the model a tool error naming the problem: bad arguments, an output too large, JSON that is not, a value as markdown', async () => {
    const runId = await run('bad');
    const [name, big, broken, obj] = seen.get('bad') as ToolOutcome[];
    expect(name).toEqual({ isError: true, content: expect.stringMatching(/^bad arguments for emit_output: name must start with a letter or digit/) });
    expect(big).toEqual({ isError: true, content: expect.stringContaining(`an output may have at most ${MAX_WORK_OUTPUT_BYTES}`) });
    expect(broken).toEqual({ isError: true, content: expect.stringContaining('content is not valid JSON for format json') });
    expect(obj).toEqual({ isError: true, content: expect.stringContaining('content must be text for format markdown') });
    expect((await h.request('GET', `/v1/runs/${runId}/outputs`, undefined, acme)).body.outputs).toEqual([]);
  });
});

describe('publish_context', () => {
  it("publishes the step's values into the run's context when it succeeds, as its publish would, for its readers", async () => {
    const runId = await run('drafting');
    const [first, undeclared, again] = seen.get('draft') as ToolOutcome[];
    expect(first).toEqual({ content: `"summary" will be published into the run's context when this step succeeds.` });
    expect(undeclared).toEqual({ isError: true, content: 'step "draft" may not publish "undeclared" (its publish declares: summary, undeclared-not)' });
    expect(again!.isError).toBeUndefined();
    const ctx = (await h.request('GET', `/v1/runs/${runId}/context`, undefined, acme)).body;
    expect(ctx.context).toEqual({ summary: { verdict: 'go', score: 8 } });
    expect(ctx.writers.summary).toMatchObject({ step: 'draft', authority: 1 });
    const view = (await h.request('GET', `/v1/runs/${runId}`, undefined, acme)).body;
    expect(view.status).toBe('succeeded');
    expect(JSON.stringify(view.steps.find((s: { stepId: string }) => s.stepId === 'use').input)).toContain('verdict go score 8');
    const events = await h.system.engine.store.events.read(h.system.scope('acme'), runId);
    expect(events.filter((e) => e.type === 'context.updated').map((e) => [e.stepId, e.data])).toEqual([['draft', { step: 'draft', keys: ['summary'] }]]);
  });

  it('runs the example of the guide: the partner decides, the step after it reads the decision', async () => {
    expect(DOC_AGENTS!.agents.partner.tools).toEqual(['emit_output', 'publish_context']);
    const runId = await run('decision');
    const ctx = (await h.request('GET', `/v1/runs/${runId}/context`, undefined, acme)).body;
    expect(ctx.context).toEqual({ summary: { verdict: 'launch', score: 9 } });
    expect(ctx.writers.summary.step).toBe('decide');
    const view = (await h.request('GET', `/v1/runs/${runId}`, undefined, acme)).body;
    expect(JSON.stringify(view.steps.find((s: { stepId: string }) => s.stepId === 'announce').input)).toContain('Announce: verdict launch, score 9');
  });

  it("refuses a name when the step's workflow declares no publish on it", async () => {
    await run('unpublishing');
    expect(seen.get('unpublishing')).toEqual([
      { isError: true, content: `step "unpublishing" publishes nothing into the run's context; its workflow must declare publish: [summary] on it first` },
    ]);
  });

  it('publishes nothing for a step that fails', async () => {
    const runId = await run('failing');
    expect(seen.get('failing')).toEqual([{ content: `"summary" will be published into the run's context when this step succeeds.` }]);
    const ctx = (await h.request('GET', `/v1/runs/${runId}/context`, undefined, acme)).body;
    expect(ctx.context).toEqual({});
  });
});
