/**
 * The foundation path: HTTP → queue → worker pool → provider (real SDKs against the fake LLM
 * server, or echo) → result in Redis → GET.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepJobId } from '../../src/store/keys.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'agent-task',
    fake,
    // Completed jobs stay (as for Bull Board), so the streaming tests can read a job's progress.
    env: { SWITCHYARD_KEEP_COMPLETED_JOBS: '100' },
    agents: {
      research: {
        provider: 'echo',
        echo: { latencyMs: 20 },
        description: 'Research agent',
        capabilities: [{ name: 'web_search', description: 'Search the web', estimatedSeconds: 3, estimatedCostUsd: 0.01 }],
      },
      claude: { provider: 'anthropic', model: 'claude-test', attempts: 3, backoff: { type: 'fixed', delayMs: 150 } },
      gpt: { provider: 'openai', model: 'gpt-test', attempts: 3, backoff: { type: 'fixed', delayMs: 150 } },
      once: { provider: 'openai', model: 'gpt-test', attempts: 1 },
      hasty: { provider: 'anthropic', model: 'claude-test', attempts: 1, timeoutMs: 300 },
      'claude-stream': { provider: 'anthropic', model: 'claude-test', stream: true, progressIntervalMs: 50, attempts: 1 },
      'gpt-stream': { provider: 'openai', model: 'gpt-test', stream: true, progressIntervalMs: 50, attempts: 1 },
      'echo-stream': { provider: 'echo', echo: { latencyMs: 400 }, stream: true, progressIntervalMs: 50 },
    },
  });
});

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

const submit = (agent: string, task: string, extra: Record<string, unknown> = {}) => h.request('POST', '/v1/runs', { agent, input: { task }, ...extra });

describe('a single agent task', () => {
  it('is accepted with 202 and succeeds with the echo output, step details and usage', async () => {
    const res = await submit('research', 'AI agent trends');
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: expect.stringMatching(/^run_/), status: 'queued' });
    expect(res.headers.get('location')).toBe(`/v1/runs/${res.body.id}`);

    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('[research] AI agent trends');
    expect(run.steps).toHaveLength(1);
    const [step] = run.steps;
    expect(step).toMatchObject({ agent: 'research', status: 'succeeded', attempts: 1, error: null, output: '[research] AI agent trends', model: 'echo' });
    expect(step!.usage!.inputTokens).toBeGreaterThan(0);
    expect(Date.parse(step!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(step!.startedAt!));

    const got = await h.request('GET', `/v1/runs/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: res.body.id, status: 'succeeded', output: '[research] AI agent trends', workflow: 'agent/research' });
  });

  it('runs through the real Anthropic SDK and records the tokens it reports', async () => {
    const res = await submit('claude', 'Summarise BullMQ flows');
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('fake claude-test: Summarise BullMQ flows');
    expect(run.steps[0]!.usage).toEqual({ inputTokens: expect.any(Number), outputTokens: expect.any(Number) });
    expect(run.usage.inputTokens).toBe(run.steps[0]!.usage!.inputTokens);
    const req = fake.requests.find((r) => r.prompt.includes('Summarise BullMQ flows'))!;
    expect(req.api).toBe('anthropic');
  });

  it('passes the context to the model after the task', async () => {
    const res = await h.request('POST', '/v1/runs', { agent: 'gpt', input: { task: 'Write a post', context: { platform: 'linkedin' } } });
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    const req = fake.requests.find((r) => r.prompt.startsWith('Write a post'))!;
    expect(req.prompt).toContain('"platform": "linkedin"');
  });

  it('does not burn an attempt on a 429: the queue waits Retry-After and the step succeeds', async () => {
    const task = 'rate limited once [[fail-first:1:429]][[retry-after:1]]';
    const res = await submit('once', task); // attempts: 1 — a burnt attempt would fail the run
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.steps[0]!.attempts).toBe(1);
    const calls = fake.requests.filter((r) => r.prompt === task);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.time - calls[0]!.time).toBeGreaterThanOrEqual(900);
    const events = await h.system.engine.store.events.read(h.system.scope(), res.body.id);
    expect(events.find((e) => e.type === 'step.retrying')?.data).toMatchObject({ reason: 'rate_limited', retryAfterMs: 1000 });
  });

  it('retries a 500 with backoff and then succeeds', async () => {
    const task = 'flaky upstream [[fail-first:2:500]]';
    const res = await submit('gpt', task);
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.steps[0]!.attempts).toBe(3);
    const calls = fake.requests.filter((r) => r.prompt === task);
    expect(calls).toHaveLength(3);
    // fixed backoff of 150 ms between attempts
    expect(calls[1]!.time - calls[0]!.time).toBeGreaterThanOrEqual(140);
    expect(calls[2]!.time - calls[1]!.time).toBeGreaterThanOrEqual(140);
  });

  it('fails at once on a 400 with the provider message, without retrying', async () => {
    const task = 'bad request [[status:400]]';
    const res = await submit('gpt', task);
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('failed');
    expect(fake.requests.filter((r) => r.prompt === task)).toHaveLength(1);
    expect(run.steps[0]).toMatchObject({ status: 'failed', attempts: 1 });
    expect(run.steps[0]!.error).toContain('400');
    expect(run.steps[0]!.error).toContain('fake error 400');
    expect(run.error).toContain(`step "gpt" failed`);
    expect(run.failedSteps).toEqual([{ stepId: 'gpt', kind: 'agent', agent: 'gpt', error: run.steps[0]!.error }]);
  });

  it('aborts the HTTP call when the step passes its timeoutMs', async () => {
    const task = 'very slow [[delay:5000]]';
    const res = await submit('hasty', task);
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('failed');
    expect(run.steps[0]!.error).toMatch(/timed out after 300 ms/);
    await expect.poll(() => fake.requests.find((r) => r.prompt === task)?.aborted).toBe(true);
  });

  it('returns the same run for a repeated idempotencyKey, and 409 when the key is reused for another request', async () => {
    const first = await submit('research', 'once only', { idempotencyKey: 'abc-123' });
    const again = await submit('research', 'once only', { idempotencyKey: 'abc-123' });
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, idempotentReplay: true });
    const other = await submit('research', 'something else', { idempotencyKey: 'abc-123' });
    expect(other.status).toBe(409);
    expect(other.body.error.message).toContain('abc-123');
    const list = await h.request('GET', '/v1/runs?limit=200');
    expect(list.body.runs.filter((r: { idempotencyKey: string }) => r.idempotencyKey === 'abc-123')).toHaveLength(1);
  });
});

describe('streaming agents', () => {
  const stepEvents = async (runId: string) => (await h.system.engine.store.events.read(h.system.scope(), runId)).filter((e) => e.stepId !== undefined);

  it.each(['claude-stream', 'gpt-stream', 'echo-stream'])('%s reports step.progress while its answer arrives, then completes', async (agent) => {
    // SDK agents: 24 pieces 15 ms apart; echo: 8 pieces over 400 ms. Reports at most every 50 ms.
    const res = await submit(agent, 'Stream a long answer, one that comes in many pieces [[chunks:24]] [[chunk-delay:15]]');
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    const events = await stepEvents(res.body.id);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('step.started');
    expect(types.at(-1)).toBe('step.completed');
    const progress = events.filter((e) => e.type === 'step.progress');
    expect(progress.length).toBeGreaterThanOrEqual(3);
    // Throttled: far fewer reports than pieces (the gaps below come from the throttle too).
    if (agent !== 'echo-stream') expect(progress.length).toBeLessThan(12);
    expect(types.slice(1, -1).every((t) => t === 'step.progress')).toBe(true);
    const chars = progress.map((e) => e.data.chars as number);
    for (let i = 1; i < chars.length; i++) expect(chars[i]).toBeGreaterThan(chars[i - 1]!);
    expect(chars.at(-1)).toBeLessThanOrEqual(String(run.output).length);
    expect(progress.every((e) => e.data.attempt === 1 && typeof e.data.elapsedMs === 'number')).toBe(true);
    for (let i = 1; i < progress.length; i++) {
      expect(Date.parse(progress[i]!.at) - Date.parse(progress[i - 1]!.at)).toBeGreaterThanOrEqual(45);
    }
    // Bull Board sees the same progress on the step's job (kept: SWITCHYARD_KEEP_COMPLETED_JOBS).
    const job = await h.system.agentQueue(agent).getJob(stepJobId(res.body.id, agent));
    expect(job?.progress).toMatchObject({ attempt: 1, chars: expect.any(Number) });
  });

  it('records a stream that breaks off as the step failing, after the progress it made', async () => {
    const res = await submit('gpt-stream', 'broken [[chunks:4]] [[chunk-delay:20]] [[stream-error]]');
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('failed');
    const types = (await stepEvents(res.body.id)).map((e) => e.type);
    expect(types).toEqual(['step.started', 'step.progress', 'step.failed']);
  });

  it('drops a progress report that arrives after its step ended or from another attempt', async () => {
    const res = await submit('echo-stream', 'short');
    const runId: string = res.body.id;
    await h.waitUntil(runId, (r) => r.steps[0]?.status === 'running');
    const store = h.system.engine.store;
    const scope = h.system.scope();
    expect(await store.steps.progress(scope, runId, 'echo-stream', 2, { chars: 1, elapsedMs: 1 })).toBe(false);
    expect(await store.steps.progress(scope, runId, 'echo-stream', 1, { chars: 1, elapsedMs: 1 })).toBe(true);
    expect((await h.waitForRun(runId)).status).toBe('succeeded');
    expect(await store.steps.progress(scope, runId, 'echo-stream', 1, { chars: 2, elapsedMs: 2 })).toBe(false);
    const progress = (await stepEvents(runId)).filter((e) => e.type === 'step.progress');
    expect(progress.filter((e) => e.data.chars === 2 || e.data.attempt === 2)).toEqual([]);
    expect(progress.some((e) => e.data.chars === 1 && e.data.elapsedMs === 1)).toBe(true);
  });

  it('a non-streaming agent asks for no stream and reports no progress', async () => {
    const res = await submit('gpt', 'plain answer [[chunk-delay:30]]');
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    expect(fake.requests.find((r) => r.prompt.startsWith('plain answer'))?.body.stream).toBeUndefined();
    expect((await stepEvents(res.body.id)).map((e) => e.type)).toEqual(['step.started', 'step.completed']);
  });
});

describe('the API', () => {
  it('lists the agents with their capabilities and without secrets', async () => {
    const res = await h.request('GET', '/v1/agents');
    expect(res.status).toBe(200);
    const research = res.body.agents.find((a: { name: string }) => a.name === 'research');
    expect(research).toMatchObject({
      provider: 'echo',
      description: 'Research agent',
      capabilities: [{ name: 'web_search', estimatedSeconds: 3, estimatedCostUsd: 0.01 }],
    });
    expect(JSON.stringify(res.body)).not.toContain('test-key');
  });

  it('answers health and readiness', async () => {
    expect((await h.request('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await h.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { redis: true }, unservedAgents: [], pausedScopes: [] });
  });

  it('serves Bull Board with every agent queue', async () => {
    const page = await fetch(`${h.baseUrl}/admin/queues`);
    expect(page.status).toBe(200);
    const api = await h.request('GET', '/admin/queues/api/queues');
    const names = api.body.queues.map((q: { name: string }) => q.name);
    expect(names).toEqual(expect.arrayContaining(['agent.research', 'agent.claude', 'agent.gpt', 'runs']));
  });
});

describe('bad requests', () => {
  it('rejects an unknown agent with 422 listing the known ones', async () => {
    const res = await submit('nobody', 'x');
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('unknown agent "nobody"');
    expect(res.body.error.message).toContain('research');
  });

  it('rejects malformed JSON with 400', async () => {
    const res = await h.request('POST', '/v1/runs', '{"agent": "research", ');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('malformed_json');
  });

  it('rejects a body over the limit with 413', async () => {
    const res = await submit('research', 'x'.repeat(200_000));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('body_too_large');
  });

  it('names the missing or wrong field', async () => {
    const missing = await h.request('POST', '/v1/runs', { agent: 'research', input: {} });
    expect(missing.status).toBe(422);
    expect(missing.body.error.issues).toEqual([expect.objectContaining({ path: 'input.task' })]);
    const extra = await h.request('POST', '/v1/runs', { agent: 'research', input: { task: 'x' }, priority: 'high' });
    expect(extra.status).toBe(422);
    expect(extra.body.error.issues[0].path).toBe('priority');
    const neither = await h.request('POST', '/v1/runs', { input: { task: 'x' } });
    expect(neither.status).toBe(422);
    const notObject = await h.request('POST', '/v1/runs', '[1,2]');
    expect(notObject.status).toBe(400);
  });

  it('answers 404 for an unknown run, route or run to cancel', async () => {
    expect((await h.request('GET', '/v1/runs/run_nope')).status).toBe(404);
    expect((await h.request('POST', '/v1/runs/run_nope/cancel')).status).toBe(404);
    expect((await h.request('GET', '/v1/nothing')).status).toBe(404);
  });

  it('answers 409 when cancelling a finished run', async () => {
    const res = await submit('research', 'finish first');
    await h.waitForRun(res.body.id);
    const cancel = await h.request('POST', `/v1/runs/${res.body.id}/cancel`);
    expect(cancel.status).toBe(409);
    expect(cancel.body.error.message).toContain('already finished');
  });
});
