/**
 * What a step keeps to debug its provider calls (`debug` on its record): the request as
 * rendered and the model's last answer as received, or the provider's error body, whatever
 * the step's ending, shown by GET /v1/runs/:id and handed to the outbox (the archive). On the
 * real Anthropic and OpenAI SDKs against the fake server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/store/keys.js';
import type { StepRecord } from '../../src/model/run.js';
import { startFakeLlmServer, structuredReply, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

const VERDICT = { type: 'object', properties: { approved: { type: 'boolean' } }, required: ['approved'] };
const SYSTEM = 'You judge drafts.';
const MAX_DEBUG_BYTES = 4096;

const AGENTS: Record<string, Record<string, unknown>> = {
  'judge-o': { provider: 'openai', model: 'gpt-dbg-judge', systemPrompt: SYSTEM, attempts: 1, output: { schema: VERDICT }, structured: 'json_schema' },
  'judge-a': { provider: 'anthropic', model: 'claude-dbg-judge', systemPrompt: SYSTEM, attempts: 1, output: { schema: VERDICT } },
  'plain-o': { provider: 'openai', model: 'gpt-dbg', systemPrompt: SYSTEM, attempts: 2, backoff: { type: 'fixed', delayMs: 1_000 } },
  'plain-a': { provider: 'anthropic', model: 'claude-dbg', systemPrompt: SYSTEM, attempts: 2, backoff: { type: 'fixed', delayMs: 1_000 } },
};

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({ name: 'debug', fake, agents: AGENTS, outbox: true, env: { SWITCHYARD_MAX_DEBUG_BYTES: String(MAX_DEBUG_BYTES) } });
}, 30_000);

afterEach(() => fake.reset());

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function submit(agent: string, task: string): Promise<string> {
  const res = await h.request('POST', '/v1/runs', { agent, input: { task } });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

/** The run's only step as GET /v1/runs/:id shows it, once the run has finished. */
async function finishedStep(id: string): Promise<StepRecord> {
  await h.waitForRun(id, 20_000);
  const res = await h.request('GET', `/v1/runs/${id}`);
  expect(res.status).toBe(200);
  return res.body.steps[0] as StepRecord;
}

/** The last outbox entry of a step (what the archive gets). */
async function outboxed(runId: string, stepId: string): Promise<StepRecord | undefined> {
  const entries = await h.system.engine.store.redis.xrange(keys.outbox(h.system.cell), '-', '+');
  const docs = entries.flatMap(([, f]) => {
    const at = (name: string) => f[f.indexOf(name) + 1];
    return at('kind') === 'step' && at('id') === `${runId}.${stepId}` ? [JSON.parse(at('doc')!) as StepRecord] : [];
  });
  return docs.at(-1);
}

describe.each([
  { api: 'openai', judge: 'judge-o', plain: 'plain-o', model: 'gpt-dbg-judge' },
  { api: 'anthropic', judge: 'judge-a', plain: 'plain-a', model: 'claude-dbg-judge' },
])('on $api', ({ api, judge, plain, model }) => {
  it('a structured step whose answers never fit fails, keeping its request (with the fix asked for) and the last raw answer', async () => {
    fake.respondWith((r) => (r.body?.model === model ? structuredReply(r, { approved: 'not a boolean' }) : undefined));
    const id = await submit(judge, 'Judge this draft');
    const step = await finishedStep(id);
    expect(step.status).toBe('failed');
    expect(step.error).toMatch(/does not fit the output schema \(asked twice\)/);
    expect(step.input).toEqual({ task: 'Judge this draft' });
    const debug = step.debug!;
    expect(debug).toMatchObject({ attempt: 1, request: { model, system: SYSTEM } });
    const messages = JSON.stringify(debug.request.messages);
    // The second round: the task, the first answer, and what was wrong with it.
    expect(messages).toContain('Judge this draft');
    expect(messages).toContain('/approved: must be boolean');
    if (api === 'openai') {
      expect(debug.request.responseSchema).toMatchObject({ name: 'answer', schema: VERDICT });
      expect(debug.answer).toEqual({ text: JSON.stringify({ approved: 'not a boolean' }), stopReason: 'stop' });
    } else {
      expect(debug.request.tools).toEqual([expect.objectContaining({ name: 'answer', inputSchema: VERDICT })]);
      expect(debug.answer).toMatchObject({
        toolCalls: [expect.objectContaining({ name: 'answer', input: { approved: 'not a boolean' } })],
        stopReason: 'tool_use',
      });
    }
    expect(debug.error).toBeUndefined();
    // Archived as shown.
    expect((await outboxed(id, judge))?.debug).toEqual(debug);
  });

  it('a step failing on a provider 400 keeps the provider error body (status, type, message), no key', async () => {
    const id = await submit(plain, 'Summarise [[status:400]]');
    const step = await finishedStep(id);
    expect(step.status).toBe('failed');
    expect(step.attempts).toBe(1);
    expect(step.input).toEqual({ task: 'Summarise [[status:400]]' });
    expect(step.debug).toMatchObject({
      attempt: 1,
      request: { model: plain === 'plain-o' ? 'gpt-dbg' : 'claude-dbg', system: SYSTEM, messages: [{ role: 'user', content: 'Summarise [[status:400]]' }] },
      error: { status: 400, type: 'invalid_request_error', message: 'fake error 400' },
    });
    expect(step.debug!.answer).toBeUndefined();
    expect(JSON.stringify(step)).not.toContain('test-key');
    expect((await outboxed(id, plain))?.debug).toEqual(step.debug);
  });

  it('a step waiting out its retry keeps the error that made it retry; once it succeeds, its last call without repeating its input and output', async () => {
    const task = 'Try again [[fail-first:1:500]]';
    const id = await submit(plain, task);
    const retrying = await h.waitUntil(id, (r) => r.steps[0]?.status === 'retrying', 10_000);
    expect(retrying.steps[0]!.debug).toMatchObject({
      attempt: 1,
      request: { messages: [{ role: 'user', content: task }] },
      error: { status: 500, message: 'fake error 500' },
    });
    const step = await finishedStep(id);
    expect(step).toMatchObject({ status: 'succeeded', input: { task }, output: `fake ${plain === 'plain-o' ? 'gpt-dbg' : 'claude-dbg'}: Try again` });
    // The messages are its input as sent, the text its output: shown once, on the record.
    expect(step.debug).toEqual({
      attempt: 2,
      request: { model: plain === 'plain-o' ? 'gpt-dbg' : 'claude-dbg', system: SYSTEM, maxTokens: expect.any(Number) },
      answer: { stopReason: api === 'openai' ? 'stop' : 'end_turn' },
    });
  });
});

it('a step cancelled while its call is in flight keeps the request it made, and how the call ended', async () => {
  const task = 'Take your time [[delay:5000]]';
  const id = await submit('plain-a', task);
  await poll(
    'the call made',
    () => fake.requests.filter((r) => r.prompt === task).length,
    (n) => n === 1,
    { timeoutMs: 10_000 },
  );
  expect((await h.request('POST', `/v1/runs/${id}/cancel`)).status).toBe(200);
  // The worker records it as its call is aborted, just after the run has ended.
  const run = await h.waitUntil(id, (r) => r.status === 'cancelled' && r.steps[0]!.debug !== null, 10_000);
  expect(run.steps[0]).toMatchObject({
    status: 'cancelled',
    input: { task },
    debug: { attempt: 1, request: { model: 'claude-dbg', messages: [{ role: 'user', content: task }] }, error: { message: expect.stringContaining('abort') } },
  });
});

it('cuts what it keeps to SWITCHYARD_MAX_DEBUG_BYTES, keeping the start and the end of a long prompt', async () => {
  const task = `BEGIN ${'x'.repeat(20_000)} END [[status:400]]`;
  const step = await finishedStep(await submit('plain-o', task));
  expect(step.status).toBe('failed');
  expect(Buffer.byteLength(JSON.stringify(step.debug))).toBeLessThanOrEqual(MAX_DEBUG_BYTES);
  expect(step.debug).toMatchObject({ truncated: true, error: { status: 400 } });
  const content = (step.debug!.request.messages as { content: string }[])[0]!.content;
  expect(content.startsWith('BEGIN xxx')).toBe(true);
  expect(content.endsWith('END [[status:400]]')).toBe(true);
  expect(content).toMatch(/characters cut/);
});
