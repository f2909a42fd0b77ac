/**
 * Refinement loops (`kind: loop`) and the structured answers their critics give: on the real
 * engine and Redis, the writer and critic on the real SDKs against the fake server (scripted
 * drafts and verdicts), and offline on echo.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { structuredMode } from '../../src/calls/vendors/openai/adapter.js';
import { startFakeLlmServer, structuredReply, tokens, type FakeLlmServer, type FakeResponse, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';

const VERDICT_FIELDS = { type: 'object', properties: { approved: { type: 'boolean' }, score: { type: 'number' } }, required: ['approved', 'score'] };

const AGENTS: Record<string, Record<string, unknown>> = {
  writer: { provider: 'anthropic', model: 'claude-w', attempts: 1 },
  // The fake server is not OpenAI's own API, where `structured: auto` asks with a forced function: these ask with response_format.
  critic: { provider: 'openai', model: 'gpt-critic', attempts: 1, structured: 'json_schema' },
  judge: { provider: 'openai', model: 'gpt-judge', attempts: 1, output: { schema: VERDICT_FIELDS }, structured: 'json_schema' },
  'judge-a': { provider: 'anthropic', model: 'claude-judge', attempts: 1, output: { schema: VERDICT_FIELDS } },
  'judge-old': { provider: 'openai', model: 'gpt-4-turbo', attempts: 1, output: { schema: VERDICT_FIELDS }, structured: 'json_mode' },
  'judge-twice': {
    provider: 'openai',
    model: 'gpt-judge-2',
    attempts: 2,
    backoff: { type: 'fixed', delayMs: 50 },
    output: { schema: VERDICT_FIELDS },
    structured: 'json_schema',
  },
  // Its model takes one call a second: a second round right after the first waits for its turn.
  'judge-rpm': { provider: 'openai', model: 'gpt-judge-rpm', attempts: 1, output: { schema: VERDICT_FIELDS }, structured: 'json_schema' },
  /** A critic that is an orchestrator elsewhere: as a critic it gives one structured verdict (`structured: auto` on a compatible server: a forced function). */
  'critic-tp': { provider: 'openai', model: 'gpt-critic', attempts: 1, delegates: ['writer'] },
  'echo-w': { provider: 'echo' },
  'echo-c': { provider: 'echo' },
};

/** What the fake bills for `calls` (by their prompts, the last user turn) answered with `answers` (sent as JSON). */
const billedFor = (calls: readonly RecordedRequest[], answers: readonly unknown[]) => ({
  inputTokens: calls.reduce((n, c) => n + tokens(c.prompt), 0),
  outputTokens: answers.reduce<number>((n, a) => n + tokens(JSON.stringify(a)), 0),
});

const loop = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  kind: 'loop',
  body: { agent: 'writer', input: { task: 'Write about {{input.topic}}' } },
  critic: { agent: 'critic' },
  ...extra,
});

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'loop',
    fake,
    agents: AGENTS,
    providers: { openai: { models: { 'gpt-judge-rpm': { rpm: 60 } } } },
    workflows: [
      {
        name: 'refine',
        input: { topic: { type: 'string' } },
        steps: [{ sequential: [loop('refine'), { id: 'publish', agent: 'echo-w', input: { task: 'publish {{steps.refine.output.draft}}' } }] }],
      },
      { name: 'refine-until', input: { topic: { type: 'string' } }, steps: [loop('refine', { until: 'verdict.score >= 7', maxIterations: 5 })] },
      { name: 'refine-max', input: { topic: { type: 'string' } }, steps: [loop('refine', { maxIterations: 2 })] },
      { name: 'refine-tp', input: { topic: { type: 'string' } }, steps: [loop('refine', { critic: { agent: 'critic-tp' } })] },
      { name: 'refine-offline', steps: [{ id: 'refine', kind: 'loop', body: { agent: 'echo-w', input: { task: 'A haiku' } }, critic: { agent: 'echo-c' } }] },
    ],
  });
}, 30_000);

afterEach(() => fake.reset());

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

/** The writer's n-th call answers `draft n`; the critic's n-th call gives verdicts[n-1]. */
function script(verdicts: unknown[]): void {
  let drafts = 0;
  let critiques = 0;
  fake.respondWith((r): FakeResponse | undefined => {
    if (r.body?.model === 'claude-w') return { text: `draft ${++drafts}` };
    if (r.body?.model === 'gpt-critic') return structuredReply(r, verdicts[critiques++] ?? { approved: true, feedback: 'out of script' });
    return undefined;
  });
}

async function run(workflow: string, input: Record<string, unknown> = { topic: 'queues' }): Promise<RunView> {
  const res = await h.request('POST', '/v1/runs', { workflow, input });
  expect(res.status).toBe(202);
  return h.waitForRun(res.body.id, 20_000);
}

const byModel = (model: string) => fake.requests.filter((r: RecordedRequest) => r.body?.model === model);
const contextOf = (r: RecordedRequest) => JSON.parse(r.prompt.slice(r.prompt.indexOf('Context:') + 'Context:'.length));

describe('a refinement loop', () => {
  it('drafts, critiques and revises with the feedback until the critic approves; its dependents read the final draft', async () => {
    script([
      { approved: false, score: 4, feedback: 'add numbers' },
      { approved: true, score: 9, feedback: 'good' },
    ]);
    const r = await run('refine');
    expect(r.status).toBe('succeeded');
    const refine = r.steps.find((s) => s.stepId === 'refine')!;
    expect(refine.output).toEqual({ draft: 'draft 2', verdict: { approved: true, score: 9, feedback: 'good' }, iterations: 2, reason: 'approved' });
    expect(r.steps.filter((s) => s.parent === 'refine').map((s) => [s.stepId, s.status])).toEqual([
      ['refine.1.draft', 'succeeded'],
      ['refine.1.critique', 'succeeded'],
      ['refine.2.draft', 'succeeded'],
      ['refine.2.critique', 'succeeded'],
    ]);
    expect(r.steps.find((s) => s.stepId === 'refine.1.critique')!.output).toEqual({ approved: false, score: 4, feedback: 'add numbers' });
    expect(r.steps.find((s) => s.stepId === 'publish')!.output).toBe('[echo-w] publish draft 2');

    // The second draft got the first and its feedback; each critique got its draft, and was
    // asked for the verdict in OpenAI's own structured mode (response_format json_schema).
    const drafts = byModel('claude-w');
    expect(drafts[0]!.prompt).toBe('Write about queues');
    expect(contextOf(drafts[1]!)).toEqual({ iteration: 2, previousDraft: 'draft 1', feedback: 'add numbers' });
    const critiques = byModel('gpt-critic');
    expect(contextOf(critiques[1]!)).toEqual({ iteration: 2, draft: 'draft 2' });
    expect(critiques[0]!.body.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'answer', strict: false } });
    expect(critiques[0]!.body.response_format.json_schema.schema.required).toEqual(['approved', 'feedback']);
    expect(critiques[0]!.body.tools).toBeUndefined();
    await expectNoLiveJobs(h.system, r.id);
  });

  it('stops when `until` holds over the verdict', async () => {
    script([
      { approved: false, score: 5, feedback: 'weak' },
      { approved: false, score: 8, feedback: 'fine by the numbers' },
    ]);
    const r = await run('refine-until');
    expect(r.status).toBe('succeeded');
    expect(r.output).toMatchObject({ draft: 'draft 2', iterations: 2, reason: 'until' });
  });

  it('stops after maxIterations, keeping every draft and verdict as steps', async () => {
    script([
      { approved: false, score: 1, feedback: 'no' },
      { approved: false, score: 2, feedback: 'still no' },
    ]);
    const r = await run('refine-max');
    expect(r.status).toBe('succeeded');
    expect(r.output).toMatchObject({ draft: 'draft 2', verdict: { feedback: 'still no' }, iterations: 2, reason: 'maxIterations' });
    expect(r.steps.map((s) => s.stepId)).toEqual(['refine', 'refine.1.draft', 'refine.1.critique', 'refine.2.draft', 'refine.2.critique']);
    expect(byModel('claude-w')).toHaveLength(2);
  });

  it('asks a critic that has delegates for its verdict in one structured call, not as an orchestrator', async () => {
    script([{ approved: true, score: 9, feedback: 'fine' }]);
    const r = await run('refine-tp');
    expect(r.status).toBe('succeeded');
    expect(r.output).toMatchObject({ iterations: 1, reason: 'approved' });
    // No delegate tools offered: one structured answer, through the forced function alone.
    expect(byModel('gpt-critic')[0]!.body.tools.map((t: { function: { name: string } }) => t.function.name)).toEqual(['answer']);
    expect(byModel('gpt-critic')[0]!.body.tool_choice).toEqual({ type: 'function', function: { name: 'answer' } });
    expect(byModel('gpt-critic')[0]!.body.response_format).toBeUndefined();
  });

  it('runs offline on echo: the echo critic approves the first draft', async () => {
    const r = await run('refine-offline', {});
    expect(r.status).toBe('succeeded');
    expect(r.output).toMatchObject({ draft: '[echo-w] A haiku', verdict: { approved: true }, iterations: 1, reason: 'approved' });
  });

  it('fails its run when a draft fails, and leaves no job behind', async () => {
    fake.respondWith((r) => (r.body?.model === 'claude-w' ? { status: 400 } : undefined));
    const r = await run('refine');
    expect(r.status).toBe('failed');
    expect(r.failedSteps.map((f) => f.stepId)).toEqual(['refine.1.draft']);
    await expectNoLiveJobs(h.system, r.id);
  });

  it('is refused at compile time with an unknown agent or an `until` that reads an unknown name', async () => {
    const res = await h.request('POST', '/v1/workflows/validate', {
      name: 'bad-loop',
      steps: [{ id: 'l', kind: 'loop', body: { agent: 'nobody', input: { task: 'x' } }, critic: { agent: 'critic' }, until: 'score > 3' }],
    });
    expect(res.status).toBe(422);
    const issues = res.body.error.issues.map((i: { path: string; message: string }) => [i.path, i.message]);
    expect(issues).toContainEqual(['steps[0].body.agent', expect.stringContaining('unknown agent "nobody"')]);
    expect(issues).toContainEqual(['steps[0].until', expect.stringContaining('unknown name "score"')]);
  });
});

describe('structured answers (an agent with output.schema)', () => {
  it('asks for the structure, validates it, and sends an answer that does not fit back once with its errors', async () => {
    const answers = [{ approved: 'yes' }, { approved: true, score: 7 }];
    let i = 0;
    fake.respondWith((r) => (r.body?.model === 'gpt-judge' ? structuredReply(r, answers[i++]) : undefined));
    const res = await h.request('POST', '/v1/runs', { agent: 'judge', input: { task: 'Judge this' } });
    const r = await h.waitForRun(res.body.id, 20_000);
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ approved: true, score: 7 });
    const calls = byModel('gpt-judge');
    expect(calls).toHaveLength(2);
    // The answer that did not fit goes back as the assistant's turn, the errors as the user's.
    expect(calls[1]!.body.messages.at(-2)).toEqual({ role: 'assistant', content: '{"approved":"yes"}' });
    const feedback = calls[1]!.body.messages.at(-1);
    expect(feedback.role).toBe('user');
    expect(feedback.content).toContain('/approved: must be boolean');
    expect(feedback.content).toContain("(root): must have required property 'score'");
    const completed = (await h.system.engine.store.events.read(h.system.scope(), r.id)).find((e) => e.type === 'step.completed');
    expect(completed?.data).toMatchObject({ structured: true, rounds: 2 });
  });

  it('a second round that must wait for capacity goes on from the first answer when its turn comes: the first round is not asked (or paid) again', async () => {
    const answers = [{ approved: 'yes' }, { approved: true, score: 8 }];
    let i = 0;
    fake.respondWith((r) => (r.body?.model === 'gpt-judge-rpm' ? structuredReply(r, answers[i++]) : undefined));
    const res = await h.request('POST', '/v1/runs', { agent: 'judge-rpm', input: { task: 'Judge this' } });
    const r = await h.waitForRun(res.body.id, 20_000);
    expect(r.status, r.error ?? '').toBe('succeeded');
    expect(r.output).toEqual({ approved: true, score: 8 });
    const calls = byModel('gpt-judge-rpm');
    expect(calls).toHaveLength(2);
    expect(calls[1]!.body.messages.at(-1).content).toContain('/approved: must be boolean');
    const events = await h.system.engine.store.events.read(h.system.scope(), r.id);
    expect(events.filter((e) => e.type === 'step.retrying').map((e) => e.data.reason)).toEqual(['capacity']);
    expect(events.find((e) => e.type === 'step.completed')?.data).toMatchObject({ structured: true, rounds: 2 });
    // Both rounds are counted, once each; the wait used no attempt.
    const step = r.steps[0]!;
    expect(step.attempts).toBe(1);
    expect(step.usage).toMatchObject(billedFor(calls, answers));
  });

  it('a step that fails after paid calls keeps their usage, and so does its run', async () => {
    fake.respondWith((r) => (r.body?.model === 'gpt-judge' ? structuredReply(r, { approved: 'no' }) : undefined));
    const res = await h.request('POST', '/v1/runs', { agent: 'judge', input: { task: 'Judge badly' } });
    const r = await h.waitForRun(res.body.id, 20_000);
    expect(r.status).toBe('failed');
    expect(r.steps[0]!.error).toMatch(/does not fit the output schema \(asked twice\)/);
    const calls = byModel('gpt-judge');
    expect(calls).toHaveLength(2);
    const paid = billedFor(calls, [{ approved: 'no' }, { approved: 'no' }]);
    expect(r.steps[0]!.usage).toMatchObject(paid);
    expect(r.usage).toMatchObject(paid);
  });

  it('counts every paid call once when the writes that record them were applied but their replies lost (each write is retried)', async () => {
    fake.respondWith((r) => (r.body?.model === 'gpt-judge' ? structuredReply(r, { approved: 'no' }) : undefined));
    const { store } = h.system.engine;
    const scope = h.system.scope();
    const lost: string[] = [];
    // This test's run: the first to save a checkpoint (an earlier test's failed job may still write to its own `judge` step).
    let runId: unknown;
    // Redis applies the write, then its reply never comes back (as ioredis reports a timeout): once for each kind.
    const loseReply =
      <A extends unknown[], R>(name: string, original: (...a: A) => Promise<R>) =>
      async (...a: A): Promise<R> => {
        const reply = await original(...a);
        // (scope, runId, stepId, ...)
        if (name === 'checkpoint') runId ??= a[1];
        if (a[1] === runId && String(a[2]) === 'judge' && !lost.includes(name)) {
          lost.push(name);
          throw new Error('Command timed out');
        }
        return reply;
      };
    const [saveCheckpoint, transitionStep] = [store.steps.checkpoint.bind(store.steps), store.steps.transition.bind(store.steps)];
    const checkpoint = vi.spyOn(store.steps, 'checkpoint').mockImplementation(loseReply('checkpoint', saveCheckpoint));
    const transition = vi.spyOn(store.steps, 'transition').mockImplementation(loseReply('transition', transitionStep));
    try {
      const res = await h.request('POST', '/v1/runs', { agent: 'judge', input: { task: 'Judge, replies lost' } });
      const r = await h.waitForRun(res.body.id, 20_000);
      // The first round's checkpoint and the failure were each written once, their replies lost, then tried again.
      expect(lost).toEqual(['checkpoint', 'transition']);
      expect(r.status).toBe('failed');
      expect(r.steps[0]).toMatchObject({ status: 'failed', attempts: 1, error: expect.stringMatching(/does not fit the output schema \(asked twice\)/) });
      const calls = byModel('gpt-judge');
      expect(calls).toHaveLength(2);
      const paid = billedFor(calls, [{ approved: 'no' }, { approved: 'no' }]);
      expect(r.steps[0]!.usage).toMatchObject(paid);
      expect(r.usage).toMatchObject(paid);
      const events = (await store.events.read(scope, r.id)).filter((e) => e.stepId === 'judge').map((e) => e.type);
      expect(events).toEqual(['step.started', 'step.failed']);
    } finally {
      checkpoint.mockRestore();
      transition.mockRestore();
    }
  });

  it('an attempt cut by a failure after a paid first round: the next attempt goes on from it, and the step counts every paid call once', async () => {
    let i = 0;
    // Round 1 does not fit; round 2 answers 500 (attempt 1 fails, unpaid); attempt 2 asks round 2 again.
    fake.respondWith((r) => {
      if (r.body?.model !== 'gpt-judge-2') return undefined;
      i++;
      return i === 1 ? structuredReply(r, { approved: 'maybe' }) : i === 2 ? { status: 500 } : structuredReply(r, { approved: true, score: 6 });
    });
    const res = await h.request('POST', '/v1/runs', { agent: 'judge-twice', input: { task: 'Judge once more' } });
    const r = await h.waitForRun(res.body.id, 20_000);
    expect(r.status, r.error ?? '').toBe('succeeded');
    expect(r.output).toEqual({ approved: true, score: 6 });
    const calls = byModel('gpt-judge-2');
    // The 500 and the attempt after it both asked round 2 (the first answer with its errors).
    expect(calls).toHaveLength(3);
    expect(calls.slice(1).map((c) => c.body.messages.at(-1).content)).toEqual([
      expect.stringContaining('/approved: must be boolean'),
      expect.stringContaining('/approved: must be boolean'),
    ]);
    const step = r.steps[0]!;
    expect(step.attempts).toBe(2);
    expect(step.usage).toMatchObject(billedFor([calls[0]!, calls[2]!], [{ approved: 'maybe' }, { approved: true, score: 6 }]));
    expect(r.usage).toMatchObject({ inputTokens: step.usage!.inputTokens, outputTokens: step.usage!.outputTokens });
  });

  it('asks OpenAI’s own API by model age (json_schema, JSON mode, a forced function), any other server with a forced function', () => {
    const mode = (model: string, official = true) => structuredMode(model, official);
    expect(['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'o3-mini', 'gpt-5', 'gpt-4o-2024-08-06'].map((m) => mode(m))).toEqual(Array(6).fill('json_schema'));
    expect(
      ['gpt-4-turbo', 'gpt-4-turbo-2024-04-09', 'gpt-4-1106-preview', 'gpt-3.5-turbo', 'gpt-3.5-turbo-0125', 'gpt-4o-2024-05-13'].map((m) => mode(m)),
    ).toEqual(Array(6).fill('json_mode'));
    expect(['gpt-4', 'gpt-4-0613', 'gpt-4-32k', 'gpt-3.5-turbo-0613'].map((m) => mode(m))).toEqual(Array(4).fill('tool'));
    expect(mode('gpt-4o', false)).toBe('tool');
    expect(structuredMode('llama3', false, 'json_schema')).toBe('json_schema');
  });

  it('uses JSON mode, the schema in the instructions, when asked to (structured: json_mode)', async () => {
    fake.respondWith((r) => (r.body?.model === 'gpt-4-turbo' ? structuredReply(r, { approved: true, score: 5 }) : undefined));
    const r = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'judge-old', input: { task: 'Judge' } })).body.id, 20_000);
    expect(r.output).toEqual({ approved: true, score: 5 });
    const [call] = byModel('gpt-4-turbo');
    expect(call!.body.response_format).toEqual({ type: 'json_object' });
    expect(call!.body.messages[0].role).toBe('system');
    expect(call!.body.messages[0].content).toContain(`Answer with a JSON object only, fitting this JSON Schema:\n${JSON.stringify(VERDICT_FIELDS)}`);
  });

  it('fails the step with the validation errors when the second answer does not fit either', async () => {
    fake.respondWith((r) => (r.body?.model === 'gpt-judge' ? structuredReply(r, { approved: 1, score: 'high' }) : undefined));
    const res = await h.request('POST', '/v1/runs', { agent: 'judge', input: { task: 'Judge that' } });
    const r = await h.waitForRun(res.body.id, 20_000);
    expect(r.status).toBe('failed');
    expect(r.steps[0]!.error).toBe('the answer does not fit the output schema (asked twice): /approved: must be boolean; /score: must be number');
    expect(byModel('gpt-judge')).toHaveLength(2);
  });

  it('does the same on Anthropic: a forced tool, the errors sent back as an error tool result, then the step fails with them', async () => {
    const answers = [{ approved: 'yes' }, { approved: true, score: 3 }];
    let i = 0;
    fake.respondWith((r) => (r.body?.model === 'claude-judge' ? structuredReply(r, answers[i++]) : undefined));
    const ok = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'judge-a', input: { task: 'Judge' } })).body.id, 20_000);
    expect(ok.output).toEqual({ approved: true, score: 3 });
    const calls = byModel('claude-judge');
    expect(calls[0]!.body.tool_choice).toEqual({ type: 'tool', name: 'answer' });
    const sentBack = calls[1]!.body.messages.at(-1).content[0];
    expect(sentBack).toMatchObject({ type: 'tool_result', is_error: true });
    expect(sentBack.content).toContain('/approved: must be boolean');

    fake.reset();
    fake.respondWith((r) => (r.body?.model === 'claude-judge' ? structuredReply(r, { approved: 'no' }) : undefined));
    const bad = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'judge-a', input: { task: 'Judge again' } })).body.id, 20_000);
    expect(bad.status).toBe('failed');
    expect(bad.steps[0]!.error).toBe(
      "the answer does not fit the output schema (asked twice): (root): must have required property 'score'; /approved: must be boolean",
    );
  });

  it('refuses an output schema that is not an object schema, naming the field', async () => {
    const res = await h.request('POST', '/v1/workflows/validate', {
      name: 'bad-schema',
      steps: [{ id: 'a', agent: 'writer', output: { schema: { type: 'string' } }, input: { task: 'x' } }],
    });
    expect(res.status).toBe(422);
    expect(res.body.error.issues).toEqual([
      expect.objectContaining({ path: 'steps[0].output.schema', message: expect.stringContaining('must be a JSON Schema of an object') }),
    ]);
  });
});
