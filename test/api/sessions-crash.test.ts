/**
 * A session's turn survives the worker process that runs it being killed (SIGKILL) while the
 * turn's run is in flight and a second message waits behind it: another process takes the
 * turn over, finds the same run (no second run of the turn), appends its answer once, and
 * then runs the waiting turn, which sees that answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerPools } from '../../src/engine/pools.js';
import { startFakeLlmServer, type FakeLlmServer, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { killAllWorkerProcesses, startWorkerProcess } from '../helpers/worker-process.js';

const STALLED = { lockDuration: 1000, stalledInterval: 500 };
const STALLED_ENV = { SWITCHYARD_LOCK_DURATION_MS: '1000', SWITCHYARD_STALLED_INTERVAL_MS: '500' };
const AGENTS = { chat: { provider: 'anthropic', model: 'claude-test', attempts: 3, concurrency: 2 } };

let fake: FakeLlmServer;
let h: Harness;

const taskOf = (r: RecordedRequest): string => {
  const m = r.body.messages[0];
  const text: string = typeof m.content === 'string' ? m.content : m.content.map((b: { text?: string }) => b.text ?? '').join('');
  return text.split('\n\nContext:')[0]!;
};

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({ name: 'sessions-crash', fake, agents: AGENTS, pools: false, env: STALLED_ENV });
});

afterAll(async () => {
  await killAllWorkerProcesses();
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

describe('a worker process killed while a turn runs', () => {
  it('loses no answer, appends none twice, and runs the waiting turn after it', { timeout: 120_000 }, async () => {
    // The first turn's first call is slow: the kill lands while it is in flight (a wide window on a
    // busy machine); the call made again after the kill is answered at once.
    let firstCalls = 0;
    fake.respondWith((r) => ({ text: `re: ${taskOf(r)}`, ...(taskOf(r) === 'first' && firstCalls++ === 0 ? { delayMs: 10_000 } : {}) }));
    const worker = await startWorkerProcess({ prefix: h.prefix, agents: AGENTS, fake, stalled: STALLED, env: STALLED_ENV });
    const id = (await h.request('POST', '/v1/sessions', { agent: 'chat' })).body.id as string;
    expect((await h.request('POST', `/v1/sessions/${id}/messages`, { message: 'first' })).status).toBe(202);
    expect((await h.request('POST', `/v1/sessions/${id}/messages`, { message: 'second' })).status).toBe(202);

    const read = async () => (await h.request('GET', `/v1/sessions/${id}`)).body;
    const before = await poll('turn 1 running, its call in flight', read, (s) => s.turns[0]?.status === 'running' && fake.requests.length > 0, {
      timeoutMs: 30_000,
    });
    await worker.kill();
    const runId = before.turns[0].runId as string;

    const pools = await startWorkerPools(h.system, { stalled: STALLED });
    try {
      const after = await poll('both turns ended', read, (s) => s.turns[1]?.status === 'succeeded', { timeoutMs: 70_000 });
      // The same run answered the turn: its job was taken over, not started again.
      expect(after.turns[0]).toMatchObject({ status: 'succeeded', runId });
      const runs = await h.request('GET', '/v1/runs?limit=50');
      expect(runs.body.runs.filter((r: { id: string }) => r.id === runId)).toHaveLength(1);
      expect(runs.body.runs).toHaveLength(2);
      // One answer each, in order.
      expect(after.messages.map((m: { role: string; content: string }) => `${m.role}: ${m.content}`)).toEqual([
        'user: first',
        'assistant: re: first',
        'user: second',
        'assistant: re: second',
      ]);
      // The waiting turn started after the first was answered, and sent that answer once.
      const second = fake.requests.filter((r) => taskOf(r) === 'second');
      expect(second).toHaveLength(1);
      expect(JSON.stringify(second[0]!.body).split('re: first')).toHaveLength(2);
    } finally {
      await pools.close(5_000);
    }
  });
});
