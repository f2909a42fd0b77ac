/**
 * Orchestrators: agents with `delegates` that decide at run time whom to call through tool
 * use. On the real engine and Redis, the orchestrators on the real Anthropic and OpenAI SDKs
 * against the fake server (scripted tool-use answers, turn by turn), their delegates on echo.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentsFile } from '../../src/model/agent.js';
import { startWorkerPools } from '../../src/engine/pools.js';
import { keys } from '../../src/store/keys.js';
import type { RunView } from '../../src/query/run-view.js';
import { endsWithToolResults, startFakeLlmServer, tokens, type FakeLlmServer, type FakeResponse, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { killAllWorkerProcesses, startWorkerProcess } from '../helpers/worker-process.js';

const STALLED = { lockDuration: 1000, stalledInterval: 500 };
const fixed = { type: 'fixed', delayMs: 50 };

const AGENTS: Record<string, Record<string, unknown>> = {
  tp: {
    provider: 'anthropic',
    model: 'claude-test',
    description: 'Thinking partner',
    delegates: ['research', 'content', 'flaky'],
    attempts: 3,
    backoff: fixed,
  },
  tpo: {
    provider: 'openai',
    model: 'gpt-test',
    description: 'Thinking partner on OpenAI',
    delegates: ['research', 'content', 'flaky'],
    attempts: 3,
    backoff: fixed,
  },
  research: { provider: 'echo', echo: { latencyMs: 300 }, description: 'Finds sources', capabilities: [{ name: 'web_search', description: 'Search the web' }] },
  content: { provider: 'echo', echo: { latencyMs: 300 }, description: 'Writes drafts' },
  /** Fails when its task carries a failing directive. */
  flaky: { provider: 'openai', model: 'gpt-child', attempts: 1 },
  tight: { provider: 'anthropic', model: 'claude-test', delegates: ['research'], orchestration: { maxTurns: 2, maxDelegations: 1 }, attempts: 1 },
  /** As many delegations as an agents file may give (a request may not ask for this many). */
  wide: { provider: 'anthropic', model: 'claude-test', delegates: ['research'], orchestration: { maxDelegations: 1000 }, attempts: 1 },
  strict: { provider: 'anthropic', model: 'claude-test', delegates: ['flaky'], orchestration: { onDelegateFailure: 'fail' }, attempts: 1 },
  lead: { provider: 'anthropic', model: 'claude-test', delegates: ['sub'], orchestration: { maxDepth: 1 } },
  lead2: { provider: 'anthropic', model: 'claude-test', delegates: ['sub'] },
  sub: { provider: 'anthropic', model: 'claude-sub', delegates: ['research'] },
  writer: { provider: 'anthropic', model: 'claude-test' },
  'echo-tp': { provider: 'echo', delegates: ['content', 'research'] },
};

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'orchestrator',
    fake,
    agents: AGENTS,
    pools: Object.keys(AGENTS).filter((a) => a !== 'tp'),
    poolOptions: { stalled: STALLED },
    workflows: [
      {
        name: 'planned-post',
        input: { topic: { type: 'string' } },
        steps: [
          { id: 'plan', agent: 'writer', delegates: ['research'], input: { task: 'Plan a post on {{input.topic}}' } },
          { id: 'post', agent: 'content', dependsOn: ['plan'], input: { task: 'publish {{steps.plan.output}}' } },
        ],
      },
    ],
  });
}, 30_000);

afterEach(() => fake.reset());

afterAll(async () => {
  await killAllWorkerProcesses();
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

/** Pools for `tp` in this process (the others run in the harness' pools). */
async function withTp<T>(fn: () => Promise<T>): Promise<T> {
  const pools = await startWorkerPools(h.system, { agents: ['tp'], internal: false, stalled: STALLED });
  try {
    return await fn();
  } finally {
    await pools.close(5_000);
  }
}

const assistantTurns = (r: RecordedRequest) => (Array.isArray(r.body?.messages) ? r.body.messages.filter((m: any) => m.role === 'assistant').length : 0);
const isOrchestratorCall = (r: RecordedRequest) => Array.isArray(r.body?.tools) && r.body.tools.length > 0;
const callsOf = (model: string) => fake.requests.filter((r) => r.body?.model === model && isOrchestratorCall(r));

/** Orchestrator calls (they offer tools) answered by turn, per model; other calls by directives. */
function script(turnsByModel: Record<string, FakeResponse[]>): void {
  fake.respondWith((r) => {
    if (!isOrchestratorCall(r)) return undefined;
    return turnsByModel[r.body.model]?.[assistantTurns(r)] ?? { text: 'no more turns scripted' };
  });
}

const delegateCall = (agent: string, task: string, id?: string) => ({ ...(id ? { id } : {}), name: 'delegate', input: { agent, task } });

async function submitAgent(agent: string, task: string): Promise<string> {
  const res = await h.request('POST', '/v1/runs', { agent, input: { task } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

const stepOf = (run: RunView, id: string) => run.steps.find((s) => s.stepId === id);

/** The tool results sent back in the last request of `model`: [content, isError][]. */
function toolResultsSent(r: RecordedRequest): [string, boolean][] {
  const messages: any[] = r.body.messages;
  if (r.api === 'anthropic') {
    const last = messages.at(-1);
    return last.content.filter((b: any) => b.type === 'tool_result').map((b: any) => [b.content, b.is_error === true]);
  }
  const tail: any[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i].role === 'tool'; i--) tail.unshift(messages[i]);
  return tail.map((m) => [m.content.replace(/^Error: /, ''), m.content.startsWith('Error: ')]);
}

describe.each([
  { agent: 'tpo', model: 'gpt-test' },
  { agent: 'tp', model: 'claude-test' },
])('an orchestrator on $model', ({ agent, model }) => {
  it('runs the delegations of one answer in parallel as child steps, resumes with their results, and answers', async () => {
    script({
      [model]: [
        { text: 'Asking both.', toolCalls: [delegateCall('research', 'find sources on queues'), delegateCall('content', 'outline a post')] },
        { text: 'A post on queues, from sources and an outline.' },
      ],
    });
    const run = await withTp(async () => h.waitForRun(await submitAgent(agent, 'Write about queues'), 20_000));
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('A post on queues, from sources and an outline.');
    expect(run.steps.map((s) => [s.stepId, s.parent, s.status])).toEqual([
      [agent, null, 'succeeded'],
      [`${agent}.1.research`, agent, 'succeeded'],
      [`${agent}.1.content`, agent, 'succeeded'],
    ]);
    const [research, content] = [stepOf(run, `${agent}.1.research`)!, stepOf(run, `${agent}.1.content`)!];
    expect(research.output).toBe('[research] find sources on queues');
    expect(content.output).toBe('[content] outline a post');
    // 300 ms each: they overlapped.
    expect(Date.parse(research.startedAt!)).toBeLessThan(Date.parse(content.finishedAt!));
    expect(Date.parse(content.startedAt!)).toBeLessThan(Date.parse(research.finishedAt!));
    expect(run.dag.edges).toEqual(expect.arrayContaining([{ from: agent, to: `${agent}.1.research`, kind: 'parent' }]));

    const calls = callsOf(model);
    expect(calls).toHaveLength(2);
    // The delegate tool names the agents it may call, with what they do.
    const tool = calls[0]!.api === 'anthropic' ? calls[0]!.body.tools[0] : calls[0]!.body.tools[0].function;
    expect(tool.name).toBe('delegate');
    // `*` with a capability has the agent chosen (research declares web_search: test/submit/routing.test.ts).
    expect((tool.input_schema ?? tool.parameters).properties.agent.enum).toEqual(['research', 'content', 'flaky', '*']);
    expect((tool.input_schema ?? tool.parameters).properties.capability.enum).toEqual(['web_search']);
    expect(tool.description).toContain('research: Finds sources; capabilities: web_search (Search the web)');
    expect(toolResultsSent(calls[1]!)).toEqual([
      ['[research] find sources on queues', false],
      ['[content] outline a post', false],
    ]);
    const orchestrator = stepOf(run, agent)!;
    // Both turns counted once: the first recorded with the checkpoint before the wait, the last with the result.
    expect(orchestrator.usage!.inputTokens).toBe(calls.reduce((n, c) => n + tokens(c.prompt), 0));
    expect(orchestrator.attempts).toBe(1);
    const events = (await h.system.engine.store.events.read(h.system.scope(), run.id)).map((e) => `${e.type}${e.stepId ? ` ${e.stepId}` : ''}`);
    expect(events).toEqual(
      expect.arrayContaining([`step.added ${agent}.1.research`, `step.added ${agent}.1.content`, `step.waiting ${agent}`, `step.resumed ${agent}`]),
    );
    await expectNoLiveJobs(h.system, run.id);
  });

  it('answers calls it cannot make with tool errors: an unknown agent, one it may not call, bad arguments, an unknown tool', async () => {
    script({
      [model]: [
        {
          toolCalls: [
            delegateCall('nobody', 'a'),
            delegateCall('writer', 'b'),
            { name: 'delegate', input: { agent: 'research' } },
            { name: 'search_web', input: { q: 'x' } },
            // Only Chat Completions sends arguments as text, which may be broken.
            { name: 'delegate', ...(model === 'gpt-test' ? { arguments: '{"agent": "research", "task": ' } : { input: 'not an object' }) },
            delegateCall('research', 'the one good call'),
          ],
        },
        { text: 'done with what worked' },
      ],
    });
    const run = await withTp(async () => h.waitForRun(await submitAgent(agent, 'Try everything'), 20_000));
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s) => s.stepId)).toEqual([agent, `${agent}.1.research`]);
    const results = toolResultsSent(callsOf(model)[1]!);
    expect(results.map(([, isError]) => isError)).toEqual([true, true, true, true, true, false]);
    expect(results[0]![0]).toBe('there is no agent "nobody"; the agents are: research, content, flaky');
    expect(results[1]![0]).toBe('agent "writer" is not one this step may delegate to; the agents are: research, content, flaky');
    expect(results[2]![0]).toBe('bad arguments for delegate: task must be a string');
    expect(results[3]![0]).toBe('unknown tool "search_web"; the tools are delegate and read_runs');
    expect(results[4]![0]).toContain(model === 'gpt-test' ? 'the arguments of delegate are not valid JSON' : 'bad arguments for delegate: (arguments)');
    expect(results[5]![0]).toBe('[research] the one good call');
  });

  it('records each call of a turn with its arguments and outcome, on the step and in step.progress: one refused, one delegated', async () => {
    script({ [model]: [{ text: 'Asking.', toolCalls: [delegateCall('writer', 'not yours'), delegateCall('research', 'find sources')] }, { text: 'done' }] });
    const run = await withTp(async () => h.waitForRun(await submitAgent(agent, 'Record my calls'), 20_000));
    expect(run.status).toBe('succeeded');
    const refused = {
      turn: 1,
      id: expect.any(String),
      name: 'delegate',
      args: { agent: 'writer', task: 'not yours' },
      error: 'agent "writer" is not one this step may delegate to; the agents are: research, content, flaky',
    };
    const delegated = { turn: 1, id: expect.any(String), name: 'delegate', args: { agent: 'research', task: 'find sources' }, step: `${agent}.1.research` };
    const answered = { ...delegated, result: '[research] find sources' };
    // GET /v1/runs/:id shows them on the step.
    const shown = (await h.request('GET', `/v1/runs/${run.id}`)).body.steps.find((s: { stepId: string }) => s.stepId === agent);
    expect(shown.calls).toEqual([refused, answered]);
    const progress = (await h.system.engine.store.events.read(h.system.scope(), run.id))
      .filter((e) => e.type === 'step.progress' && e.stepId === agent)
      .map((e) => e.data);
    // At the turn: the refusal at once, the delegation as the step it became; once that step has answered, its result.
    expect(progress).toEqual([
      { attempt: 1, turn: 1, toolCalls: 2, delegated: [`${agent}.1.research`], calls: [refused, delegated] },
      { attempt: 1, turn: 1, calls: [refused, answered] },
    ]);
  });

  it('keeps its calls in its checkpoint once (its conversation holds them): a checkpoint does not grow by a second copy of them', async () => {
    const task = `${'x'.repeat(3000)} [[delay:1500]]`;
    script({ [model]: [{ toolCalls: [delegateCall('flaky', task)] }, { text: 'done' }] });
    const run = await withTp(async () => {
      const id = await submitAgent(agent, 'Keep it small');
      const saved = await poll(
        'its checkpoint while it waits for its delegate',
        () => h.system.engine.redis.hget(keys.step(h.system.scope(), id, agent), 'checkpoint'),
        (cp) => cp !== null && JSON.parse(cp).pending !== null,
        { timeoutMs: 10_000 },
      );
      const cp = JSON.parse(saved!) as Record<string, unknown>;
      // Its conversation, the calls pending, and a few bytes besides (turns, counts, the delegations' step ids).
      const conversation = JSON.stringify({ messages: cp.messages, pending: cp.pending }).length;
      expect(JSON.stringify(cp).length - conversation).toBeLessThan(300);
      return h.waitForRun(id, 20_000);
    });
    expect(run.status).toBe('succeeded');
    expect(stepOf(run, agent)!.calls).toEqual([
      {
        turn: 1,
        id: expect.any(String),
        name: 'delegate',
        args: { agent: 'flaky', task: expect.stringMatching(/^x{100}/) },
        step: `${agent}.1.flaky`,
        result: expect.stringMatching(/^fake gpt-child: x+/),
      },
    ]);
  });

  it('gives a failed delegate back to the model as a tool error; the run ends partial_success with the answer', async () => {
    script({ [model]: [{ toolCalls: [delegateCall('flaky', 'break [[status:400]]')] }, { text: 'recovered without it' }] });
    const run = await withTp(async () => h.waitForRun(await submitAgent(agent, 'Lean on flaky'), 20_000));
    expect(run.status).toBe('partial_success');
    expect(run.output).toBe('recovered without it');
    expect(stepOf(run, `${agent}.1.flaky`)).toMatchObject({ status: 'failed', parent: agent });
    const [[content, isError]] = toolResultsSent(callsOf(model)[1]!) as [[string, boolean]];
    expect(isError).toBe(true);
    expect(content).toMatch(/^agent "flaky" failed: .*400/);
    expect(stepOf(run, agent)!.calls).toEqual([
      { turn: 1, id: expect.any(String), name: 'delegate', args: { agent: 'flaky', task: 'break [[status:400]]' }, step: `${agent}.1.flaky`, error: content },
    ]);
    await expectNoLiveJobs(h.system, run.id);
  });
});

describe('orchestrator bounds', () => {
  it('maxDelegations: calls beyond it get a tool error; maxTurns: the last turn is made without tools, and it answers', async () => {
    script({ 'claude-test': [{ toolCalls: [delegateCall('research', 'first'), delegateCall('research', 'second')] }, { text: 'wrapped up' }] });
    const run = await h.waitForRun(await submitAgent('tight', 'Bounded'), 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('wrapped up');
    expect(run.steps.map((s) => s.stepId)).toEqual(['tight', 'tight.1.research']);
    const calls = callsOf('claude-test');
    expect(toolResultsSent(calls[1]!)).toEqual([
      ['[research] first', false],
      ['the delegation limit is reached (maxDelegations 1); answer with what you have', true],
    ]);
    expect(calls[1]!.body.tool_choice).toEqual({ type: 'none' });
    expect(JSON.stringify(calls[1]!.body.messages.at(-1))).toContain('This is your last turn (maxTurns 2)');
    const completed = (await h.system.engine.store.events.read(h.system.scope(), run.id)).find((e) => e.type === 'step.completed' && e.stepId === 'tight');
    expect(completed?.data).toMatchObject({ turns: 2, delegations: 1 });
  });

  it('delegations count against SWITCHYARD_MAX_STEPS: an answer that would pass it fails the step, naming it, adding none', async () => {
    const calls = Array.from({ length: 1000 }, (_, i) => delegateCall('research', `part ${i}`));
    script({ 'claude-test': [{ toolCalls: calls }, { text: 'never reached' }] });
    const run = await h.waitForRun(await submitAgent('wide', 'Split it a thousand ways'), 20_000);
    expect(run.status).toBe('failed');
    expect(stepOf(run, 'wide')).toMatchObject({
      status: 'failed',
      error: 'step "wide" would add 1000 steps to its run, which has 1: a run has at most 1000 steps (SWITCHYARD_MAX_STEPS)',
    });
    expect(run.steps.map((s) => s.stepId)).toEqual(['wide']);
    expect(callsOf('claude-test')).toHaveLength(1);
    await expectNoLiveJobs(h.system, run.id);
  });

  it("its conversation is bounded like a step's input: delegates' answers past SWITCHYARD_MAX_RENDERED_BYTES fail the step, naming it", async () => {
    // Four delegations of 300 KB each come back as four answers of 300 KB: 2.4 MB with the calls.
    const calls = Array.from({ length: 4 }, (_, i) => delegateCall('research', `${i} ${'x'.repeat(300 * 1024)}`));
    script({ 'claude-test': [{ toolCalls: calls }, { text: 'never reached' }] });
    const run = await h.waitForRun(await submitAgent('wide', 'Gather a lot'), 20_000);
    expect(run.status).toBe('failed');
    expect(run.steps.filter((s) => s.parent === 'wide' && s.status === 'succeeded')).toHaveLength(4);
    expect(stepOf(run, 'wide')).toMatchObject({
      status: 'failed',
      error: `the orchestrator's conversation, its delegates' answers included, is more than ${1024 * 1024} bytes of text (SWITCHYARD_MAX_RENDERED_BYTES)`,
    });
    expect(callsOf('claude-test')).toHaveLength(1);
    await expectNoLiveJobs(h.system, run.id);
  });

  it('maxTurns: an answer that still asks for tools on the last turn fails the step, saying so', async () => {
    script({ 'claude-test': [{ toolCalls: [delegateCall('research', 'again')] }, { toolCalls: [delegateCall('research', 'and again')] }] });
    const run = await h.waitForRun(await submitAgent('tight', 'Never done'), 20_000);
    expect(run.status).toBe('failed');
    expect(stepOf(run, 'tight')).toMatchObject({
      status: 'failed',
      error: 'the orchestrator reached maxTurns (2) and still asked for tools (delegate) instead of answering',
    });
    await expectNoLiveJobs(h.system, run.id);
  });

  it('onDelegateFailure: fail — a failed delegate fails the run like any required step', async () => {
    script({ 'claude-test': [{ toolCalls: [delegateCall('flaky', 'break [[status:400]]')] }, { text: 'never reached' }] });
    const run = await h.waitForRun(await submitAgent('strict', 'No second chances'), 20_000);
    expect(run.status).toBe('failed');
    expect(run.failedSteps.map((f) => f.stepId)).toContain('strict.1.flaky');
    expect(callsOf('claude-test')).toHaveLength(1);
    await expectNoLiveJobs(h.system, run.id);
  });

  it('maxDepth: a delegate that is itself an orchestrator delegates below it, and answers as a plain agent at the limit', async () => {
    script({
      'claude-test': [{ toolCalls: [delegateCall('sub', 'dig deeper')] }, { text: 'lead done' }],
      'claude-sub': [{ toolCalls: [delegateCall('research', 'the bottom')] }, { text: 'sub done' }],
    });
    const deep = await h.waitForRun(await submitAgent('lead2', 'Two levels'), 20_000);
    expect(deep.status).toBe('succeeded');
    expect(deep.steps.map((s) => [s.stepId, s.parent])).toEqual([
      ['lead2', null],
      ['lead2.1.sub', 'lead2'],
      ['lead2.1.sub.1.research', 'lead2.1.sub'],
    ]);
    expect(stepOf(deep, 'lead2.1.sub')!.output).toBe('sub done');

    fake.reset();
    script({ 'claude-test': [{ toolCalls: [delegateCall('sub', 'dig deeper')] }, { text: 'lead done' }] });
    const shallow = await h.waitForRun(await submitAgent('lead', 'One level'), 20_000);
    expect(shallow.status).toBe('succeeded');
    expect(shallow.steps.map((s) => s.stepId)).toEqual(['lead', 'lead.1.sub']);
    // At the limit it got no tools: a plain call, answered by the directives' default.
    const subCall = fake.requests.find((r) => r.body?.model === 'claude-sub')!;
    expect(subCall.body.tools).toBeUndefined();
    expect(stepOf(shallow, 'lead.1.sub')!.output).toBe('fake claude-sub: dig deeper');
    const completed = (await h.system.engine.store.events.read(h.system.scope(), shallow.id)).find(
      (e) => e.type === 'step.completed' && e.stepId === 'lead.1.sub',
    );
    expect(completed?.data).toMatchObject({ delegation: 'off: at the depth limit (maxDepth 1)' });
  });
});

describe('cancelling a run while an orchestrator waits for its delegates', () => {
  it('ends the run cancelled, with its delegates, and leaves no job behind', async () => {
    script({ 'claude-test': [{ toolCalls: [delegateCall('research', 'slow one'), delegateCall('content', 'slow two')] }, { text: 'never reached' }] });
    const run = await withTp(async () => {
      const id = await submitAgent('tp', 'To be cancelled');
      await h.waitUntil(id, (r) => r.steps.some((s) => s.parent === 'tp' && s.status === 'running'), 10_000);
      const res = await h.request('POST', `/v1/runs/${id}/cancel`);
      expect(res.status).toBe(200);
      const ended = await h.waitForRun(id, 10_000);
      // While its worker still serves the queue: the orchestrator's own job ends there.
      await expectNoLiveJobs(h.system, id);
      return ended;
    });
    expect(run.status).toBe('cancelled');
    expect(stepOf(run, 'tp')!.status).toBe('cancelled');
    expect(callsOf('claude-test')).toHaveLength(1);
  });
});

describe('delegation declared on a workflow step', () => {
  it('makes the step an orchestrator, whose answer its dependents read', async () => {
    script({ 'claude-test': [{ toolCalls: [delegateCall('research', 'sources on BullMQ')] }, { text: 'plan ready' }] });
    const res = await h.request('POST', '/v1/runs', { workflow: 'planned-post', input: { topic: 'BullMQ' } });
    expect(res.status).toBe(202);
    const run = await h.waitForRun(res.body.id, 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s) => [s.stepId, s.status])).toEqual([
      ['plan', 'succeeded'],
      ['post', 'succeeded'],
      ['plan.1.research', 'succeeded'],
    ]);
    expect(stepOf(run, 'post')!.output).toBe('[content] publish plan ready');
    expect(callsOf('claude-test')[0]!.prompt).toBe('Plan a post on BullMQ');
  });

  it('refuses delegates that are not agents, on a step and in the agents file', async () => {
    const res = await h.request('POST', '/v1/workflows/validate', {
      name: 'bad',
      steps: [{ id: 'a', agent: 'writer', delegates: ['research', 'nobody'], input: { task: 'x' } }],
    });
    expect(res.status).toBe(422);
    expect(res.body.error.issues).toEqual([
      expect.objectContaining({ path: 'steps[0].delegates[1]', message: expect.stringContaining('unknown agent "nobody"') }),
    ]);
    const file = AgentsFile.safeParse({ agents: { a: { provider: 'echo', delegates: ['a', 'b'] } } });
    expect(file.success).toBe(false);
    expect(file.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['agents.a.delegates.0', 'an agent may not delegate to itself'],
      ['agents.a.delegates.1', 'unknown agent "b"; known agents: a'],
    ]);
  });
});

describe('an orchestrator on the offline echo provider', () => {
  it('delegates to its first delegate, then answers with the result (npm start without keys)', async () => {
    const run = await h.waitForRun(await submitAgent('echo-tp', 'A post on queues'), 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s) => [s.stepId, s.status])).toEqual([
      ['echo-tp', 'succeeded'],
      ['echo-tp.1.content', 'succeeded'],
    ]);
    expect(run.output).toBe('[echo-tp] A post on queues\n[content] A post on queues');
  });
});

describe('read_runs', () => {
  it('shows the model recent runs of its workspace with their outputs, answered without a child step', async () => {
    const earlier = await h.waitForRun(await submitAgent('research', 'old findings on queues'), 10_000);
    script({ 'claude-test': [{ toolCalls: [{ name: 'read_runs', input: { agent: 'research', maxAgeMinutes: 60 } }] }, { text: 'used the recent research' }] });
    const run = await withTp(async () => h.waitForRun(await submitAgent('tp', 'Use recent research if fresh'), 20_000));
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s) => s.stepId)).toEqual(['tp']);
    const [[content, isError]] = toolResultsSent(callsOf('claude-test')[1]!) as [[string, boolean]];
    expect(isError).toBe(false);
    const listed = JSON.parse(content) as { id: string; output: unknown; workflow: string }[];
    expect(listed[0]).toMatchObject({ id: earlier.id, workflow: 'agent/research', output: '[research] old findings on queues' });
  });
});

describe('an orchestrator whose worker is killed between two turns', () => {
  it('makes no model call again for a turn already answered, and adds no child twice', { timeout: 60_000 }, async () => {
    // Turn 2 takes long: the worker is killed while it waits for that answer.
    script({ 'claude-test': [{ toolCalls: [delegateCall('research', 'before the crash')] }, { text: 'answered after the crash', delayMs: 2_000 }] });
    const worker = await startWorkerProcess({ prefix: h.prefix, agents: AGENTS, serve: ['tp'], internal: false, fake, stalled: STALLED });
    const id = await submitAgent('tp', 'Survive a crash');
    await poll(
      'the second turn asked',
      () => callsOf('claude-test').length,
      (n) => n >= 2,
      { timeoutMs: 15_000 },
    );
    expect(endsWithToolResults(callsOf('claude-test')[1]!.body)).toBe(true);
    await worker.kill();
    const run = await withTp(async () => h.waitForRun(id, 30_000));
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('answered after the crash');
    const calls = callsOf('claude-test');
    // Turn 1 was answered once; turn 2 was cut by the kill and asked again.
    expect(calls.map(assistantTurns)).toEqual([0, 1, 1]);
    expect(run.steps.map((s) => s.stepId)).toEqual(['tp', 'tp.1.research']);
    const events = await h.system.engine.store.events.read(h.system.scope(), id);
    expect(events.filter((e) => e.type === 'step.added')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'step.completed' && e.stepId === 'tp.1.research')).toHaveLength(1);
    expect(stepOf(run, 'tp')).toMatchObject({ attempts: 2, recovered: true });
    // Its calls came through the crash with the checkpoint, recorded once.
    expect(stepOf(run, 'tp')!.calls).toEqual([
      {
        turn: 1,
        id: expect.any(String),
        name: 'delegate',
        args: { agent: 'research', task: 'before the crash' },
        step: 'tp.1.research',
        result: '[research] before the crash',
      },
    ]);
    await expectNoLiveJobs(h.system, id);
  });
});
