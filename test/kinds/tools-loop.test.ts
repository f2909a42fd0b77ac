/**
 * The tool loop of agent steps with `tools`: on the real engine and Redis, the agents on the
 * real Anthropic and OpenAI SDKs against the fake server (which asks for named tools, turn by
 * turn), their tools counting tools (test/fixtures/counting-tools.ts) given as HTTP tools, so
 * each call really made is counted, across processes too.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerPools } from '../../src/engine/pools.js';
import { AgentsFile } from '../../src/model/agent.js';
import { approvalRule } from '../../src/tools/approval.js';
import type { RunView } from '../../src/query/run-view.js';
import { startFakeLlmServer, type FakeLlmServer, type FakeResponse, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { countedCalls, countingTools } from '../fixtures/counting-tools.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { killAllWorkerProcesses, startWorkerProcess } from '../helpers/worker-process.js';

const STALLED = { lockDuration: 1000, stalledInterval: 500 };
const unused = { url: 'http://127.0.0.1:9/never-called' };
const TOOLS = {
  lookup: { description: 'Look a thing up', http: unused, input: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } },
  slow: { description: 'Look a thing up, slowly', http: unused, input: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } },
  pay: {
    description: 'Pay an amount',
    http: unused,
    input: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] },
    approval: 'required',
  },
};
const AGENTS: Record<string, Record<string, unknown>> = {
  ta: { provider: 'anthropic', model: 'claude-tools', tools: ['lookup', 'pay'], concurrency: 1, attempts: 2 },
  to: { provider: 'openai', model: 'gpt-tools', tools: ['lookup', 'pay'], concurrency: 1, attempts: 2 },
  tr: { provider: 'anthropic', model: 'claude-reader', tools: ['read_runs'] },
  te: { provider: 'openai', model: 'gpt-emit', tools: ['emit_output'] },
  // Served by a worker process that is killed.
  ca: { provider: 'anthropic', model: 'claude-crash', tools: ['lookup', 'slow'], attempts: 3 },
  co: { provider: 'openai', model: 'gpt-crash', tools: ['lookup', 'slow'], attempts: 3 },
};

let fake: FakeLlmServer;
let h: Harness;
let dir: string;
let file: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tools-loop-'));
  file = path.join(dir, 'calls.jsonl');
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'tools-loop',
    fake,
    agents: AGENTS,
    tools: TOOLS,
    pools: ['ta', 'to', 'tr', 'te'],
    poolOptions: { stalled: STALLED, tools: countingTools(file) },
    env: { SWITCHYARD_TRANSCRIPT_PART_CHARS: '100' },
  });
}, 30_000);

afterEach(() => {
  fake.reset();
  rmSync(file, { force: true });
});

afterAll(async () => {
  await killAllWorkerProcesses();
  await h?.close();
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
  assertAllClosed();
});

const assistantTurns = (r: RecordedRequest) => (Array.isArray(r.body?.messages) ? r.body.messages.filter((m: any) => m.role === 'assistant').length : 0);
const offersTools = (r: RecordedRequest) => Array.isArray(r.body?.tools) && r.body.tools.length > 0;

/** The tool results sent back in a request: [content, isError][]. */
function toolResultsSent(r: RecordedRequest): [string, boolean][] {
  const messages: any[] = r.body.messages;
  if (r.api === 'anthropic') {
    const last = messages.at(-1);
    return last.content.filter((b: any) => b.type === 'tool_result').map((b: any) => [String(b.content), b.is_error === true]);
  }
  const tail: any[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i].role === 'tool'; i--) tail.unshift(messages[i]);
  return tail.map((m) => [m.content.replace(/^Error: /, ''), m.content.startsWith('Error: ')]);
}

type Turn = FakeResponse | ((r: RecordedRequest) => FakeResponse);
/** The answer to every turn after the first: the tool results it was sent, joined. */
const fromResults: Turn = (r) => ({
  text: `answer from ${toolResultsSent(r)
    .map(([c, e]) => (e ? `error(${c})` : c))
    .join(' | ')}`,
});

/** Requests that offer tools answered by their task (the prompt) and turn. */
function script(byTask: Record<string, Turn[]>): void {
  fake.respondWith((r) => {
    if (!offersTools(r)) return undefined;
    const turn = byTask[r.prompt]?.[assistantTurns(r)] ?? { text: 'no more turns scripted' };
    return typeof turn === 'function' ? turn(r) : turn;
  });
}

async function submit(agent: string, task: string): Promise<string> {
  const res = await h.request('POST', '/v1/runs', { agent, input: { task } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

const stepOf = (run: RunView, id: string) => run.steps.find((s) => s.stepId === id)!;
const requestsOf = (model: string) => fake.requests.filter((r) => r.body?.model === model);

describe.each([
  { agent: 'ta', model: 'claude-tools' },
  { agent: 'to', model: 'gpt-tools' },
])('an agent with tools on $model', ({ agent, model }) => {
  it("offers its tools; a tool's result reaches the answer, and the call is in the step's transcript", async () => {
    script({ 'Find queues': [{ text: 'Looking.', toolCalls: [{ name: 'lookup', input: { query: 'queues' } }] }, fromResults] });
    const run = await h.waitForRun(await submit(agent, 'Find queues'), 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('answer from lookup: queues');
    const offered = requestsOf(model)[0]!.body.tools.map((t: any) => t.name ?? t.function.name);
    expect(offered).toEqual(['lookup', 'pay']);
    expect(countedCalls(file)).toEqual([{ tool: 'lookup', key: `${run.id}.${agent}.1.1`, args: { query: 'queues' } }]);
    expect(stepOf(run, agent).calls).toEqual([{ turn: 1, id: expect.any(String), name: 'lookup', args: { query: 'queues' }, result: 'lookup: queues' }]);
    await expectNoLiveJobs(h.system, run.id);
  });

  it('gives arguments that do not fit the input schema back as a tool error, without calling the tool', async () => {
    script({ 'Bad args': [{ toolCalls: [{ name: 'lookup', input: { query: 5 } }] }, fromResults] });
    const run = await h.waitForRun(await submit(agent, 'Bad args'), 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('answer from error(bad arguments for lookup: /query: must be string)');
    expect(countedCalls(file)).toEqual([]);
    expect(stepOf(run, agent).calls).toMatchObject([{ name: 'lookup', args: { query: 5 }, error: 'bad arguments for lookup: /query: must be string' }]);
  });

  it('parks a step whose tool call needs approval without holding its worker slot, and makes the call once approved', async () => {
    script({
      'Pay it': [{ toolCalls: [{ name: 'pay', input: { amount: 5 } }] }, fromResults],
      Meanwhile: [{ text: 'answered meanwhile' }],
    });
    const id = await submit(agent, 'Pay it');
    const waiting = await h.waitUntil(id, (r) => r.status === 'waiting', 20_000);
    expect(stepOf(waiting, agent)).toMatchObject({ status: 'waiting', reason: 'waiting for approval of tool calls: pay' });
    expect(waiting.waitingAt).toEqual([expect.objectContaining({ stepId: agent })]);
    expect(stepOf(waiting, agent).calls).toMatchObject([{ name: 'pay', args: { amount: 5 }, approval: { waiting: true } }]);
    const events = await h.system.engine.store.events.read(h.system.scope(), id);
    expect(events.find((e) => e.type === 'step.waiting')?.data).toMatchObject({ turn: 1, calls: [{ name: 'pay', args: { amount: 5 } }] });
    // The agent's pool runs one step at a time: another run's step goes through meanwhile.
    const other = await h.waitForRun(await submit(agent, 'Meanwhile'), 20_000);
    expect(other.output).toBe('answered meanwhile');
    expect(countedCalls(file)).toEqual([]);

    const res = await h.request('POST', `/v1/runs/${id}/steps/${agent}/approve`, { by: 'alice', comment: 'fine' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const run = await h.waitForRun(id, 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('answer from pay: 5');
    expect(countedCalls(file).map((c) => c.tool)).toEqual(['pay']);
    expect(stepOf(run, agent).calls).toEqual([
      {
        turn: 1,
        id: expect.any(String),
        name: 'pay',
        args: { amount: 5 },
        result: 'pay: 5',
        approval: { approved: true, by: 'alice', comment: 'fine', at: expect.any(String) },
      },
    ]);
    const runEvents = (await h.system.engine.store.events.read(h.system.scope(), id))
      .map((e) => e.type)
      .filter((t) => t.startsWith('run.') || t === 'step.approved');
    expect(runEvents).toEqual(['run.queued', 'run.started', 'run.waiting', 'step.approved', 'run.resumed', 'run.finished']);
    // GET /v1/runs/:id shows the transcript on the step.
    const shown = await h.request('GET', `/v1/runs/${id}`);
    expect(shown.body.steps.find((s: any) => s.stepId === agent).calls).toMatchObject([{ name: 'pay', result: 'pay: 5', approval: { by: 'alice' } }]);
    const again = await h.request('POST', `/v1/runs/${id}/steps/${agent}/approve`, {});
    expect(again.status).toBe(409);
    await expectNoLiveJobs(h.system, id);
  });

  it('gives a rejection to the model as a tool error with who and the comment; the call is not made', async () => {
    script({ 'Pay a lot': [{ toolCalls: [{ name: 'pay', input: { amount: 1e6 } }] }, fromResults] });
    const id = await submit(agent, 'Pay a lot');
    await h.waitUntil(id, (r) => r.status === 'waiting', 20_000);
    const res = await h.request('POST', `/v1/runs/${id}/steps/${agent}/reject`, { by: 'bob', comment: 'too costly' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const run = await h.waitForRun(id, 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('answer from error(rejected by bob: too costly)');
    expect(countedCalls(file)).toEqual([]);
    expect(stepOf(run, agent).calls).toMatchObject([
      { name: 'pay', error: 'rejected by bob: too costly', approval: { approved: false, by: 'bob', comment: 'too costly' } },
    ]);
  });
});

describe('an agent with tools', () => {
  it('keeps in its transcript each part cut to SWITCHYARD_TRANSCRIPT_PART_CHARS, while the tool and the model get them whole', async () => {
    const query = `${'q'.repeat(150)}${'z'.repeat(150)}`;
    script({ 'Long one': [{ toolCalls: [{ name: 'lookup', input: { query } }] }, fromResults] });
    const run = await h.waitForRun(await submit('ta', 'Long one'), 20_000);
    expect(run.output).toBe(`answer from lookup: ${query}`);
    expect(countedCalls(file)[0]!.args).toEqual({ query });
    const [call] = stepOf(run, 'ta').calls!;
    expect(call!.result).toMatch(/^lookup: q+ … \[\d+ characters cut\] … z+$/);
    expect(call!.result!.length).toBeLessThan(150);
    expect(JSON.stringify(call!.args).length).toBeLessThanOrEqual(100);
  });

  it('asks one decision for every call of an answer that needs one; the calls that need none are made after it, all in their order', async () => {
    script({
      'Pay twice': [
        {
          toolCalls: [
            { name: 'pay', input: { amount: 1 } },
            { name: 'lookup', input: { query: 'x' } },
            { name: 'pay', input: { amount: 2 } },
          ],
        },
        fromResults,
      ],
    });
    const id = await submit('ta', 'Pay twice');
    const waiting = await h.waitUntil(id, (r) => r.status === 'waiting', 20_000);
    expect(stepOf(waiting, 'ta').reason).toBe('waiting for approval of tool calls: pay, pay');
    expect(countedCalls(file)).toEqual([]);
    expect((await h.request('POST', `/v1/runs/${id}/steps/ta/approve`, { by: 'carol' })).status).toBe(200);
    const run = await h.waitForRun(id, 20_000);
    expect(run.output).toBe('answer from pay: 1 | lookup: x | pay: 2');
    expect(countedCalls(file).map((c) => [c.tool, c.key])).toEqual([
      ['pay', `${id}.ta.1.1`],
      ['lookup', `${id}.ta.1.2`],
      ['pay', `${id}.ta.1.3`],
    ]);
    expect(stepOf(run, 'ta').calls!.map((c) => [c.name, (c.approval as { by?: string } | undefined)?.by ?? null])).toEqual([
      ['pay', 'carol'],
      ['lookup', null],
      ['pay', 'carol'],
    ]);
  });

  it('offers the built-in read_runs to an agent that lists it, answered at once in its process', async () => {
    script({ 'Earlier work': [{ text: 'earlier answer' }], 'What ran?': [{ toolCalls: [{ name: 'read_runs', input: { limit: 2 } }] }, fromResults] });
    const earlier = await h.waitForRun(await submit('ta', 'Earlier work'), 20_000);
    const run = await h.waitForRun(await submit('tr', 'What ran?'), 20_000);
    expect(run.status).toBe('succeeded');
    const offered = requestsOf('claude-reader')[0]!.body.tools.map((t: any) => t.name);
    expect(offered).toEqual(['read_runs']);
    const [call] = stepOf(run, 'tr').calls!;
    expect(call).toMatchObject({ name: 'read_runs', args: { limit: 2 } });
    const listed = JSON.parse(toolResultsSent(requestsOf('claude-reader')[1]!)[0]![0]) as { id: string; status: string }[];
    expect(listed[0]).toMatchObject({ id: earlier.id, output: 'earlier answer' });
    expect(listed.every((r) => r.status === 'succeeded' && r.id !== run.id)).toBe(true);
  });
});

describe('an agent given the built-in emit_output', () => {
  it('keeps the work output the model emits on the run', async () => {
    script({ 'Write it up': [{ toolCalls: [{ name: 'emit_output', input: { name: 'Summary', content: 'the gist' } }] }, fromResults] });
    const run = await h.waitForRun(await submit('te', 'Write it up'), 20_000);
    expect(run.status, JSON.stringify(stepOf(run, 'te').calls)).toBe('succeeded');
    expect(stepOf(run, 'te').calls).toMatchObject([{ name: 'emit_output', args: { name: 'Summary' } }]);
    const outputs = await h.request('GET', `/v1/runs/${run.id}/outputs`);
    expect(outputs.status).toBe(200);
    expect(outputs.body.outputs.map((o: { name: string }) => o.name)).toEqual(['Summary']);
  });
});

describe.each([
  { agent: 'ca', model: 'claude-crash' },
  { agent: 'co', model: 'gpt-crash' },
])('an agent on $model whose worker is killed between two tool calls of one answer', ({ agent, model }) => {
  it('does not make again the call whose result was saved; makes the other again with the same Idempotency-Key', { timeout: 60_000 }, async () => {
    script({
      'Two lookups': [
        {
          toolCalls: [
            { name: 'lookup', input: { query: 'first' } },
            { name: 'slow', input: { query: 'second' } },
          ],
        },
        fromResults,
      ],
    });
    const worker = await startWorkerProcess({
      prefix: h.prefix,
      agents: AGENTS,
      serve: [agent],
      internal: false,
      fake,
      stalled: STALLED,
      env: { WORKER_TOOLS: JSON.stringify(TOOLS), WORKER_COUNTING_TOOLS: JSON.stringify({ file, hang: ['slow'] }) },
    });
    const id = await submit(agent, 'Two lookups');
    // `slow` is called only once `lookup`'s result is saved: it hangs, and the worker is killed there.
    await poll(
      'the second call made',
      () => countedCalls(file).length,
      (n) => n >= 2,
      { timeoutMs: 20_000 },
    );
    await worker.kill();
    const pools = await startWorkerPools(h.system, { agents: [agent], internal: false, stalled: STALLED, tools: countingTools(file) });
    let run: RunView;
    try {
      run = await h.waitForRun(id, 30_000);
    } finally {
      await pools.close(5_000);
    }
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('answer from lookup: first | slow: second');
    const made = countedCalls(file);
    expect(made.map((c) => [c.tool, c.key])).toEqual([
      ['lookup', `${id}.${agent}.1.1`],
      ['slow', `${id}.${agent}.1.2`],
      ['slow', `${id}.${agent}.1.2`],
    ]);
    // The first turn was answered once, before the crash.
    expect(requestsOf(model).map(assistantTurns)).toEqual([0, 1]);
    expect(stepOf(run, agent)).toMatchObject({ attempts: 2, recovered: true });
    expect(stepOf(run, agent).calls!.map((c) => [c.name, c.result])).toEqual([
      ['lookup', 'lookup: first'],
      ['slow', 'slow: second'],
    ]);
    await expectNoLiveJobs(h.system, id);
  });
});

describe("an agent's tools are checked when it is declared", () => {
  it('refuses, in the agents file, a tool, built-in or MCP server that does not exist, one listed twice, and names that clash', () => {
    const file = AgentsFile.safeParse({
      tools: { lookup: TOOLS.lookup, read_runs: TOOLS.lookup, web: TOOLS.lookup },
      mcpServers: { web: { command: 'web-mcp' }, fs: { command: 'fs-mcp' } },
      agents: { a: { provider: 'echo', tools: ['lookup', 'nowhere', 'lookup', 'fs/read', 'git/log', 'emit_output'] } },
    });
    expect(file.success).toBe(false);
    expect(file.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      [
        'agents.a.tools.1',
        expect.stringMatching(
          /^unknown tool "nowhere": not a built-in \(read_runs, emit_output, publish_context\), an HTTP tool of tools \(lookup, read_runs, web\)/,
        ),
      ],
      ['agents.a.tools.2', '"lookup" is listed twice'],
      ['agents.a.tools.4', '"git/log" names MCP server "git", which is not in mcpServers (web, fs)'],
      ['tools.read_runs', `"read_runs" is the name of a tool of the engine's own; give the HTTP tool another name`],
      ['tools.web', '"web" is also an MCP server of mcpServers: an agent\'s tools: could not tell them apart'],
    ]);
  });

  it('refuses a workspace agent created over the API that names an unknown tool (422, naming it), and takes one that names a known tool', async () => {
    const bad = await h.request('POST', '/v1/agents', { name: 'own-bad', provider: 'echo', tools: ['lookup', 'nowhere'] });
    expect(bad.status).toBe(422);
    expect(bad.body.error.message).toMatch(/^tools\.1: unknown tool "nowhere"/);
    const good = await h.request('POST', '/v1/agents', { name: 'own-good', provider: 'echo', tools: ['lookup'] });
    expect(good.status, JSON.stringify(good.body)).toBe(201);
  });
});

describe('the example of docs/tools.md', () => {
  it('is an agents file that loads, whose approval rule asks for a person by the arguments', () => {
    const text = readFileSync(path.join(import.meta.dirname, '..', '..', 'docs', 'tools.md'), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(text)![1]!;
    const file = AgentsFile.parse(parseYaml(yaml));
    expect(file.agents.support!.tools).toEqual(['lookup', 'refund', 'read_runs']);
    const needs = approvalRule(file.tools.refund!.approval, 'refund');
    expect([needs({ order: 'A-17', amount: 250 }), needs({ order: 'A-18', amount: 40 })]).toEqual([true, false]);
    expect(approvalRule(file.tools.lookup!.approval, 'lookup')({ email: 'a@b.example' })).toBe(false);
  });
});
