/**
 * Sessions (conversations) over the HTTP API, end to end: real Redis, real workers, the
 * Anthropic SDK against the fake LLM server, whose recorded requests show what each turn's run
 * was sent. A third message sees the first two; a long session is summarised (the summary
 * request made, the summary kept, older messages dropped from the prompt); two messages sent
 * together run one after the other, in order; another workspace's session is not found; DELETE.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.js';
import { SUMMARY_TASK } from '../../src/conversations/history.js';
import { startFakeLlmServer, type FakeLlmServer, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { SpecChecker, type Spec } from '../helpers/openapi.js';
import { poll } from '../helpers/poll.js';

let fake: FakeLlmServer;
let h: Harness;
let acme: Record<string, string>;
let beta: Record<string, string>;
let checker: SpecChecker;

/** A request whose answer is checked against what /openapi.json documents for it. */
async function api(method: string, path: string, body?: unknown, headers?: Record<string, string>) {
  const res = await h.request(method, path, body, headers);
  checker.check(method, path.split('?')[0]!, res);
  return res;
}

/** The text of a recorded request's (one) user message: the task, then its context. */
function promptOf(r: RecordedRequest): string {
  const m = r.body.messages[0];
  return typeof m.content === 'string' ? m.content : m.content.map((b: { text?: string }) => b.text ?? '').join('');
}
const taskOf = (r: RecordedRequest) => promptOf(r).split('\n\nContext:')[0]!;
const isSummary = (r: RecordedRequest) => taskOf(r) === SUMMARY_TASK;
const requestFor = (task: string) => fake.requests.find((r) => taskOf(r) === task);

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'sessions',
    fake,
    agents: {
      chat: { provider: 'anthropic', model: 'claude-test', attempts: 1, concurrency: 4 },
      // An orchestrator (the Thinking Partner): it chats, and delegates to chat.
      lead: { provider: 'anthropic', model: 'claude-lead', delegates: ['chat'], attempts: 1 },
      // The configured summarizer (SWITCHYARD_SESSION_SUMMARIZER) folds older messages, on a model of its own.
      summarizer: { provider: 'anthropic', model: 'claude-sum', attempts: 1 },
    },
    env: { SWITCHYARD_SESSION_SUMMARIZER: 'summarizer' },
    pricing: { 'claude-test': { inputPerMTok: 1, outputPerMTok: 2 }, 'claude-sum': { inputPerMTok: 1, outputPerMTok: 2 } },
  });
  const key = async (workspace: string) => ({
    authorization: `Bearer ${(await h.system.keys.create({ workspace, scopes: ['runs:write', 'runs:read'] })).key}`,
  });
  checker = new SpecChecker((await h.request('GET', '/openapi.json')).body as Spec);
  acme = await key('acme');
  beta = await key('beta');
}, 30_000);

beforeEach(() => {
  fake.reset();
  // The agent answers "re: <the message>"; a summary run answers with a summary naming what it folded.
  fake.respondWith((r) =>
    isSummary(r) ? { text: `SUMMARY of ${JSON.parse(promptOf(r).split('\n\nContext:\n')[1]!).messages.length} messages` } : { text: `re: ${taskOf(r)}` },
  );
});

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function create(body: Record<string, unknown>, auth = acme): Promise<string> {
  const res = await api('POST', '/v1/sessions', body, auth);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function send(id: string, message: string, auth = acme): Promise<number> {
  const res = await api('POST', `/v1/sessions/${id}/messages`, { message }, auth);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.turn as number;
}

/** The session once turn `n` has ended. */
async function turnEnded(id: string, n: number, auth = acme): Promise<any> {
  const ended = (s: any) => ['succeeded', 'failed'].includes(s?.turns?.[n - 1]?.status);
  const read = async () => (await api('GET', `/v1/sessions/${id}`, undefined, auth)).body;
  return poll(`turn ${n} of ${id}`, read, ended, { timeoutMs: 30_000 });
}

describe('a session', () => {
  it("sends a third message with the first two and their answers; GET shows every message, each turn's run, usage and cost", async () => {
    const id = await create({ agent: 'chat', title: 'planning' });
    await send(id, 'My code word is PELICAN-4417.');
    await turnEnded(id, 1);
    await send(id, 'And my city is Lisbon.');
    await turnEnded(id, 2);
    await send(id, 'What were my code word and city?');
    const session = await turnEnded(id, 3);

    const third = promptOf(requestFor('What were my code word and city?')!);
    const context = JSON.parse(third.split('\n\nContext:\n')[1]!);
    expect(context.conversation.messages).toEqual([
      { role: 'user', content: 'My code word is PELICAN-4417.' },
      { role: 'assistant', content: 're: My code word is PELICAN-4417.' },
      { role: 'user', content: 'And my city is Lisbon.' },
      { role: 'assistant', content: 're: And my city is Lisbon.' },
    ]);
    // The first turn had nothing before it: the message alone.
    expect(promptOf(requestFor('My code word is PELICAN-4417.')!)).toBe('My code word is PELICAN-4417.');

    expect(session).toMatchObject({ id, agent: 'chat', title: 'planning', status: 'idle', turnCount: 3, summary: null });
    expect(session.messages.map((m: any) => [m.role, m.content, m.turn])).toEqual([
      ['user', 'My code word is PELICAN-4417.', 1],
      ['assistant', 're: My code word is PELICAN-4417.', 1],
      ['user', 'And my city is Lisbon.', 2],
      ['assistant', 're: And my city is Lisbon.', 2],
      ['user', 'What were my code word and city?', 3],
      ['assistant', 're: What were my code word and city?', 3],
    ]);
    let total = 0;
    for (const turn of session.turns) {
      expect(turn).toMatchObject({ status: 'succeeded', runStatus: 'succeeded', runId: expect.stringMatching(/^run_/) });
      expect(turn.usage.inputTokens).toBeGreaterThan(0);
      expect(turn.usage.costUsd).toBeGreaterThan(0);
      // The turn's run is a run like any other, and says the same.
      const run = await api('GET', `/v1/runs/${turn.runId}`, undefined, acme);
      expect(run.body.usage).toEqual(turn.usage);
      total += turn.usage.costUsd;
    }
    expect(session.usage.costUsd).toBeCloseTo(total, 8);
  }, 60_000);

  it('summarises older messages once past summarizeAfter: the summary request made and kept, older messages dropped from the prompt', async () => {
    const id = await create({ agent: 'chat', memory: { maxMessages: 2, summarizeAfter: 4 } });
    for (const [n, message] of ['first: apples', 'second: bananas', 'third: cherries'].entries()) {
      await send(id, message);
      await turnEnded(id, n + 1);
    }
    // Three answered turns are six messages, past 4: turns 1 and 2 are folded before turn 4 runs.
    expect(fake.requests.filter(isSummary)).toHaveLength(0);
    await send(id, 'fourth: dates');
    const session = await turnEnded(id, 4);

    const summaries = fake.requests.filter(isSummary);
    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.body.model).toBe('claude-sum');
    const folded = JSON.parse(promptOf(summaries[0]!).split('\n\nContext:\n')[1]!);
    expect(folded.messages.map((m: any) => m.content)).toEqual(['first: apples', 're: first: apples', 'second: bananas', 're: second: bananas']);

    expect(session.summary).toMatchObject({ text: 'SUMMARY of 4 messages', throughTurn: 2, runId: expect.stringMatching(/^run_/) });
    expect(session.turns[3].summaryRunId).toBe(session.summary.runId);
    const fourth = promptOf(requestFor('fourth: dates')!);
    const context = JSON.parse(fourth.split('\n\nContext:\n')[1]!);
    expect(context.conversation).toEqual({
      summary: 'SUMMARY of 4 messages',
      messages: [
        { role: 'user', content: 'third: cherries' },
        { role: 'assistant', content: 're: third: cherries' },
      ],
    });
    expect(fourth).not.toContain('apples');
    // Every message is still there to read back; the summary's cost is counted in the session's.
    expect(session.messages).toHaveLength(8);
    const summaryRun = (await api('GET', `/v1/runs/${session.summary.runId}`, undefined, acme)).body;
    expect(summaryRun.usage.costUsd).toBeGreaterThan(0);
    const turnsCost = session.turns.reduce((s: number, t: any) => s + t.usage.costUsd, 0);
    expect(session.usage.costUsd).toBeCloseTo(turnsCost + summaryRun.usage.costUsd, 8);
  }, 90_000);

  it('runs two messages sent together one after the other, in order: the second sees the first answered', async () => {
    const id = await create({ agent: 'chat' });
    // The first answer takes a while: the second message arrives while the first turn runs.
    fake.respondWith((r) => ({ text: `re: ${taskOf(r)}`, ...(taskOf(r) === 'one' ? { delayMs: 800 } : {}) }));
    const [a, b] = await Promise.all([
      api('POST', `/v1/sessions/${id}/messages`, { message: 'one' }, acme),
      api('POST', `/v1/sessions/${id}/messages`, { message: 'two' }, acme),
    ]);
    expect([a.status, b.status]).toEqual([202, 202]);
    const byTurn = [a.body, b.body].sort((x, y) => x.turn - y.turn);
    expect(byTurn.map((x) => [x.turn, x.ahead])).toEqual([
      [1, 0],
      [2, 1],
    ]);
    const session = await turnEnded(id, 2);
    const [first, second] = session.turns;
    expect([first.status, second.status]).toEqual(['succeeded', 'succeeded']);
    // One request per turn, the first turn's before the second's, and the second sent the first's answer.
    expect(fake.requests.map(taskOf)).toEqual([session.messages[0].content, session.messages[2].content]);
    const secondPrompt = promptOf(fake.requests[1]!);
    expect(secondPrompt).toContain(`re: ${session.messages[0].content}`);
    const runOf = async (runId: string) => (await api('GET', `/v1/runs/${runId}`, undefined, acme)).body;
    const [r1, r2] = [await runOf(first.runId), await runOf(second.runId)];
    expect(Date.parse(r2.createdAt)).toBeGreaterThanOrEqual(Date.parse(r1.finishedAt));
  }, 60_000);
});

describe('a turn whose run fails', () => {
  it('is recorded failed with its error, and the turn after it runs without it', async () => {
    fake.respondWith((r) => (taskOf(r) === 'break [[status:400]]' ? { status: 400 } : { text: `re: ${taskOf(r)}` }));
    const id = await create({ agent: 'chat' });
    await send(id, 'break [[status:400]]');
    await send(id, 'after the failure');
    const session = await turnEnded(id, 2);
    expect(session.turns[0]).toMatchObject({ status: 'failed', runStatus: 'failed', error: expect.any(String) });
    expect(session.turns[1]).toMatchObject({ status: 'succeeded' });
    expect(session.messages.map((m: any) => m.role)).toEqual(['user', 'user', 'assistant']);
    // A failed turn is not part of the conversation a later turn is sent.
    expect(promptOf(requestFor('after the failure')!)).toBe('after the failure');
  }, 60_000);
});

describe('?wait on a message', () => {
  it('answers 200 with the turn once it has ended in time, else 202 as without it; past the maximum, 422', async () => {
    const id = await create({ agent: 'chat' });
    const quick = await api('POST', `/v1/sessions/${id}/messages?wait=20`, { message: 'quick one' }, acme);
    expect(quick.status, JSON.stringify(quick.body)).toBe(200);
    expect(quick.body).toMatchObject({ session: id, turn: 1, status: 'succeeded', answer: 're: quick one', runId: expect.stringMatching(/^run_/) });
    expect(quick.body.usage.inputTokens).toBeGreaterThan(0);

    fake.respondWith((r) => ({ text: `re: ${taskOf(r)}`, delayMs: 1500 }));
    const slow = await api('POST', `/v1/sessions/${id}/messages?wait=0.2`, { message: 'slow one' }, acme);
    expect(slow.status).toBe(202);
    expect(slow.body).toEqual({ session: id, turn: 2, status: 'queued', ahead: 0 });
    // The turn went on: its answer is appended once its run ends.
    const session = await turnEnded(id, 2);
    expect(session.messages.at(-1)).toMatchObject({ role: 'assistant', content: 're: slow one' });

    const tooLong = await api('POST', `/v1/sessions/${id}/messages?wait=100000`, { message: 'x' }, acme);
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.error.message).toMatch(/query.wait: must be at most/);
  }, 60_000);
});

describe('the typed client', () => {
  it('creates a session, sends a message and waits for its answer, reads, lists and deletes it', async () => {
    const client = createClient({ url: h.baseUrl, key: acme.authorization!.slice('Bearer '.length) });
    const session = await client.sessions.create({ agent: 'chat', title: 'by client' });
    const answer = await client.sessions.send(session.id, 'hello from the client', { wait: 20 });
    expect(answer).toMatchObject({ turn: 1, status: 'succeeded', answer: 're: hello from the client' });
    const read = await client.sessions.get(session.id);
    expect(read.messages.map((m) => m.content)).toEqual(['hello from the client', 're: hello from the client']);
    expect((await client.sessions.list({ limit: 200 })).sessions.map((s) => s.id)).toContain(session.id);
    await client.sessions.delete(session.id);
    await expect(client.sessions.get(session.id)).rejects.toMatchObject({ status: 404 });
  }, 30_000);
});

describe('a session with an orchestrator agent', () => {
  it('delegates as usual within a turn, and its next turn sees what was said', async () => {
    const offersTools = (r: RecordedRequest) => Array.isArray(r.body?.tools) && r.body.tools.length > 0;
    const ownTurns = (r: RecordedRequest) => r.body.messages.filter((m: { role: string }) => m.role === 'assistant').length;
    fake.respondWith((r) => {
      if (!offersTools(r)) return { text: `re: ${taskOf(r)}` };
      if (ownTurns(r) === 0) return { text: 'Asking chat.', toolCalls: [{ name: 'delegate', input: { agent: 'chat', task: `look up: ${taskOf(r)}` } }] };
      return { text: `lead: ${taskOf(r)} (checked)` };
    });
    const id = await create({ agent: 'lead' });
    await send(id, 'Plan a trip to Porto.');
    const first = await turnEnded(id, 1);
    expect(first.turns[0].status).toBe('succeeded');
    expect(first.messages[1].content).toBe('lead: Plan a trip to Porto. (checked)');
    // The turn's run delegated: its steps include the child that answered the lead.
    const run = (await api('GET', `/v1/runs/${first.turns[0].runId}`, undefined, acme)).body;
    expect(run.steps.length).toBeGreaterThan(1);
    expect(fake.requests.some((r) => !offersTools(r) && taskOf(r) === 'look up: Plan a trip to Porto.')).toBe(true);

    await send(id, 'Make it three days.');
    await turnEnded(id, 2);
    const leadSecond = fake.requests.find((r) => offersTools(r) && taskOf(r) === 'Make it three days.' && ownTurns(r) === 0)!;
    const context = JSON.stringify(leadSecond.body.messages[0].content);
    expect(context).toContain('Plan a trip to Porto.');
    expect(context).toContain('lead: Plan a trip to Porto. (checked)');
  }, 60_000);
});

describe("a session's workspace", () => {
  it('keeps it from every other: 404 on read, message and delete, absent from the list', async () => {
    const id = await create({ agent: 'chat', title: 'acme only' });
    for (const [method, path, body] of [
      ['GET', `/v1/sessions/${id}`, undefined],
      ['POST', `/v1/sessions/${id}/messages`, { message: 'hello' }],
      ['DELETE', `/v1/sessions/${id}`, undefined],
    ] as const) {
      const res = await api(method, path, body, beta);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.message).toContain('not found');
    }
    const list = await api('GET', '/v1/sessions', undefined, beta);
    expect(list.body.sessions.map((s: any) => s.id)).not.toContain(id);
    const own = await api('GET', '/v1/sessions?limit=200', undefined, acme);
    expect(own.body.sessions.map((s: any) => s.id)).toContain(id);
    // Nothing was sent on beta's behalf.
    expect((await api('GET', `/v1/sessions/${id}`, undefined, acme)).body.turnCount).toBe(0);
  });
});

describe('DELETE /v1/sessions/:id', () => {
  it('removes it: 204, then 404 on read and on a second delete, gone from the list', async () => {
    const id = await create({ agent: 'chat' });
    expect((await api('DELETE', `/v1/sessions/${id}`, undefined, acme)).status).toBe(204);
    expect((await api('GET', `/v1/sessions/${id}`, undefined, acme)).status).toBe(404);
    expect((await api('DELETE', `/v1/sessions/${id}`, undefined, acme)).status).toBe(404);
    expect((await api('POST', `/v1/sessions/${id}/messages`, { message: 'x' }, acme)).status).toBe(404);
    const list = await api('GET', '/v1/sessions?limit=200', undefined, acme);
    expect(list.body.sessions.map((s: any) => s.id)).not.toContain(id);
  });
});

describe('GET /v1/sessions', () => {
  it("pages the workspace's sessions, newest first", async () => {
    const ids = [
      await create({ agent: 'chat', title: 'p1' }, beta),
      await create({ agent: 'chat', title: 'p2' }, beta),
      await create({ agent: 'chat', title: 'p3' }, beta),
    ];
    const first = await api('GET', '/v1/sessions?limit=2', undefined, beta);
    expect(first.body.sessions.map((s: any) => s.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.nextCursor).toBe('2');
    const second = await api('GET', `/v1/sessions?limit=2&cursor=${first.body.nextCursor}`, undefined, beta);
    expect(second.body.sessions.map((s: any) => s.id)).toEqual([ids[0]]);
    expect(second.body.nextCursor).toBeNull();
    for (const id of ids) await api('DELETE', `/v1/sessions/${id}`, undefined, beta);
  });
});

describe('bad input', () => {
  it('is a 4xx naming the problem', async () => {
    const cases: [string, string, unknown, number, RegExp][] = [
      ['POST', '/v1/sessions', { agent: 'nobody' }, 422, /unknown agent "nobody"/],
      ['POST', '/v1/sessions', {}, 422, /agent/],
      ['POST', '/v1/sessions', { agent: 'chat', memory: { maxMessages: 0 } }, 422, /maxMessages/],
      ['POST', '/v1/sessions', { agent: 'chat', memory: { keep: 3 } }, 422, /keep/],
      ['POST', '/v1/sessions', { agent: 'chat', extra: 1 }, 422, /extra/],
      ['GET', '/v1/sessions/not-a-session', undefined, 404, /not a session id/],
      ['GET', '/v1/sessions?page=2', undefined, 422, /unknown query parameter "page"/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const res = await api(method, path, body, acme);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status);
      expect(res.body.error.message).toMatch(message);
    }
    const id = await create({ agent: 'chat' });
    const empty = await api('POST', `/v1/sessions/${id}/messages`, { message: '' }, acme);
    expect(empty.status).toBe(422);
    expect(empty.body.error.message).toMatch(/message/);
    await api('DELETE', `/v1/sessions/${id}`, undefined, acme);
  });
});
