/**
 * GET /v1/runs/:id/messages: the traffic between a run's agents as seed 002's AgentMessages, in
 * order, derived from what the run keeps. On the real engine and Redis: an orchestrator on the
 * real Anthropic SDK against the fake server (scripted tool-use turns) delegating to an echo
 * agent, and a vote whose voters answer on the real OpenAI SDK.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.js';
import { AgentMessage } from '../../src/model/agent-message.js';
import { startFakeLlmServer, structuredReply, type FakeLlmServer, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'run-messages',
    fake,
    agents: {
      tp: { provider: 'anthropic', model: 'claude-test', delegates: ['research'], attempts: 1 },
      research: { provider: 'echo', echo: { latencyMs: 50 } },
      a: { provider: 'openai', model: 'gpt-a', attempts: 1 },
      b: { provider: 'openai', model: 'gpt-b', attempts: 1 },
    },
    workflows: [
      {
        name: 'council',
        steps: [
          { id: 'draft', agent: 'research', input: { task: 'a plan' }, publish: { as: 'plan' } },
          { id: 'v', kind: 'vote', dependsOn: ['draft'], question: { task: 'Ship {{steps.draft.output}}?' }, voters: [{ agent: 'a' }, { agent: 'b' }] },
        ],
      },
      {
        name: 'quick-council',
        steps: [{ id: 'v', kind: 'vote', question: { task: 'Ship?' }, voters: [{ agent: 'a' }, { agent: 'a' }, { agent: 'b' }], quorum: 2 }],
      },
    ],
  });
}, 30_000);

afterEach(() => fake.reset());

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function finished(body: Record<string, unknown>) {
  const res = await h.request('POST', '/v1/runs', body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return h.waitForRun(res.body.id as string, 20_000);
}

async function messagesOf(runId: string): Promise<AgentMessage[]> {
  const res = await h.request('GET', `/v1/runs/${runId}/messages`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.runId).toBe(runId);
  // Each one in seed 002's shape, and in order of time.
  const messages = (res.body.messages as unknown[]).map((m) => AgentMessage.parse(m));
  messages.forEach((m, i) => {
    expect(m.id).toBe(`${runId}:${i + 1}`);
    if (i > 0) expect(Date.parse(m.timestamp)).toBeGreaterThanOrEqual(Date.parse(messages[i - 1]!.timestamp));
  });
  return messages;
}

const assistantTurns = (r: RecordedRequest) => (Array.isArray(r.body?.messages) ? r.body.messages.filter((m: any) => m.role === 'assistant').length : 0);

describe('the messages of an orchestrator run', () => {
  it('are its delegation and the answer, then its tool call and result, then the feedback given, in order', async () => {
    const turns = [
      { toolCalls: [{ name: 'delegate', input: { agent: 'research', task: 'find sources' } }] },
      { toolCalls: [{ name: 'read_runs', input: { agent: 'research', maxAgeMinutes: 60 } }] },
      { text: 'done: sources found' },
    ];
    fake.respondWith((r) => (r.body?.model === 'claude-test' ? turns[assistantTurns(r)] : undefined));
    const run = await finished({ agent: 'tp', input: { task: 'Research queues' } });
    expect(run.status).toBe('succeeded');
    const child = run.steps.find((s) => s.parent === 'tp')!;
    expect(child.stepId).toBe('tp.1.research');
    expect((await h.request('POST', `/v1/runs/${run.id}/steps/tp/feedback`, { rating: 4, comment: 'good sources' })).status).toBe(200);

    const messages = await messagesOf(run.id);
    expect(messages.map((m) => [m.fromAgent, m.toAgent, m.messageType, m.metadata.topic])).toEqual([
      ['tp', 'research', 'request', 'delegation'],
      ['research', 'tp', 'response', 'delegation'],
      ['tp', 'tool:read_runs', 'request', 'tool'],
      ['tool:read_runs', 'tp', 'response', 'tool'],
      ['user', 'tp', 'feedback', 'feedback'],
    ]);
    const [ask, answer, call, result, feedback] = messages as [AgentMessage, AgentMessage, AgentMessage, AgentMessage, AgentMessage];
    expect(ask.content).toEqual({ agent: 'research', task: 'find sources' });
    expect(ask.metadata).toMatchObject({ runId: run.id, workflowId: 'agent/tp', taskId: 'tp', childStep: child.stepId, turn: 1 });
    expect(answer.content).toEqual(expect.stringContaining('[research] find sources'));
    expect(answer.metadata).toMatchObject({ taskId: child.stepId, childStep: child.stepId, callId: ask.metadata.callId });
    expect(answer.metadata.error).toBeUndefined();
    expect(answer.timestamp).toBe(child.finishedAt);
    expect(call.content).toEqual({ agent: 'research', maxAgeMinutes: 60 });
    expect(call.metadata.turn).toBe(2);
    expect(typeof result.content).toBe('string');
    expect(feedback.content).toEqual({ rating: 4, comment: 'good sources' });
    // The client reads the same list.
    expect(await createClient({ url: h.baseUrl }).runs.messages(run.id)).toEqual(messages);
  });
});

describe('the messages of a vote', () => {
  it("are the context publish, the vote's question to each voter, then each vote as it came", async () => {
    fake.respondWith((r) => {
      const m = r.body?.model;
      if (m === 'gpt-a') return structuredReply(r, { answer: 'yes', confidence: 0.9, rationale: 'ready' });
      if (m === 'gpt-b') return { ...structuredReply(r, { answer: 'no', confidence: 0.4, rationale: 'not yet' }), delayMs: 400 };
      return undefined;
    });
    const run = await finished({ workflow: 'council', input: {} });
    expect(run.status).toBe('succeeded');
    const messages = await messagesOf(run.id);
    expect(messages.map((m) => [m.fromAgent, m.toAgent, m.messageType, m.metadata.topic])).toEqual([
      ['research', 'context', 'notification', 'context'],
      ['vote:v', 'a', 'request', 'vote'],
      ['vote:v', 'b', 'request', 'vote'],
      ['a', 'vote:v', 'response', 'vote'],
      ['b', 'vote:v', 'response', 'vote'],
    ]);
    const [publish, question, , voteA, voteB] = messages;
    expect(publish!.content).toEqual({ keys: ['plan'], values: { plan: '[research] a plan' } });
    expect(publish!.metadata.taskId).toBe('draft');
    expect(question!.content).toMatchObject({ task: 'Ship [research] a plan?' });
    expect(question!.metadata).toMatchObject({ taskId: 'v', childStep: 'v.1.a', workflowId: 'council' });
    expect(voteA!.content).toMatchObject({ answer: 'yes', confidence: 0.9 });
    expect(voteB!.content).toMatchObject({ answer: 'no', confidence: 0.4 });
  });
});

describe('the messages of a vote ended by its quorum', () => {
  it('hold no answer from the voter cancelled before it answered', async () => {
    fake.respondWith((r) => {
      const m = r.body?.model;
      if (m === 'gpt-a') return structuredReply(r, { answer: 'yes', confidence: 0.9, rationale: 'ready' });
      if (m === 'gpt-b') return { ...structuredReply(r, { answer: 'no', confidence: 0.4, rationale: 'late' }), delayMs: 30_000 };
      return undefined;
    });
    const run = await finished({ workflow: 'quick-council', input: {} });
    expect(run.steps.find((s) => s.stepId === 'v.3.b')!.status).toBe('cancelled');
    const messages = await messagesOf(run.id);
    expect(messages.map((m) => [m.fromAgent, m.toAgent, m.messageType])).toEqual([
      ['vote:v', 'a', 'request'],
      ['vote:v', 'a', 'request'],
      ['vote:v', 'b', 'request'],
      ['a', 'vote:v', 'response'],
      ['a', 'vote:v', 'response'],
    ]);
  });
});

describe('GET /v1/runs/:id/messages', () => {
  it("answers 404 for an unknown run and for another workspace's run", async () => {
    const run = await finished({ agent: 'research', input: { task: 'private notes' } });
    // A single-step run has no traffic between agents.
    expect(await messagesOf(run.id)).toEqual([]);
    expect((await h.request('GET', '/v1/runs/run_0mx5nope0000000000000/messages')).status).toBe(404);
    // (Last: once a key exists, every request needs one.)
    const beta = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'beta', scopes: ['runs:read'] })).key}` };
    const other = await h.request('GET', `/v1/runs/${run.id}/messages`, undefined, beta);
    expect(other.status).toBe(404);
    expect(other.body.error.message).toBe(`run "${run.id}" not found`);
  });
});
