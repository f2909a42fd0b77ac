/**
 * HTTP tools in the tool loop, on the real engine and Redis, both SDKs against the fake LLM
 * server, the tools' service a real local server: the service's answer reaches the model's
 * answer, the secret header is filled from the workspace and is in no transcript, event or
 * answer; a 5xx is tried again (the hits counted) and a 4xx reaches the model as a tool error.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerPools, type WorkerPools } from '../../src/engine/pools.js';
import { keys } from '../../src/store/keys.js';
import { httpToolSource } from '../../src/tools/http-source.js';
import { startFakeLlmServer, type FakeLlmServer, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { json, startTestServer, type TestServer } from '../helpers/http-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { readEventStream } from '../helpers/sse.js';

const SEARCH_KEY = `sk-search-${randomBytes(10).toString('hex')}`;
let fake: FakeLlmServer;
let service: TestServer;
let h: Harness;
let pools: WorkerPools;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  service = await startTestServer();
  const search = { url: `${service.url}/search`, headers: { authorization: 'Bearer {{ secrets.SEARCH_KEY }}' }, attempts: 3 };
  h = await startHarness({
    name: 'http-tool-loop',
    fake,
    pools: false,
    env: { SWITCHYARD_SECRETS_KEY: randomBytes(32).toString('base64') },
    tools: {
      web_search: { description: 'Search the web', http: search, input: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } },
    },
    agents: {
      ta: { provider: 'anthropic', model: 'claude-http', tools: ['web_search'], attempts: 1 },
      to: { provider: 'openai', model: 'gpt-http', tools: ['web_search'], attempts: 1 },
    },
  });
  await poll(
    'the API connection',
    () => h.system.ping(),
    (up) => up,
  );
  await h.system.api.secrets.set(h.system.scope(), 'SEARCH_KEY', SEARCH_KEY);
  pools = await startWorkerPools(h.system, { tools: { http: httpToolSource({ egress: undefined, secrets: h.system.engine.secrets.lookup }) } });
}, 30_000);

afterEach(() => {
  fake.reset();
  service.received.length = 0;
});

afterAll(async () => {
  await pools?.close();
  await h?.system.api.store.redis.del(keys.secrets(h.system.scope()), keys.secretWorkspaces(h.system.scope()));
  await h?.close();
  await service?.close();
  await fake?.close();
  assertAllClosed();
});

const assistantTurns = (r: RecordedRequest) => (Array.isArray(r.body?.messages) ? r.body.messages.filter((m: any) => m.role === 'assistant').length : 0);
/** The tool results sent back to the model in a request, as text. */
const resultsSent = (r: RecordedRequest): string =>
  JSON.stringify(r.api === 'anthropic' ? r.body.messages.at(-1).content : r.body.messages.filter((m: any) => m.role === 'tool'));

/** First turn: ask for web_search; second: answer with what the tool gave back. */
function searchThenAnswer(): void {
  fake.respondWith((r) => {
    if (!Array.isArray(r.body?.tools) || !r.body.tools.length) return undefined;
    return assistantTurns(r) === 0 ? { toolCalls: [{ name: 'web_search', input: { query: 'queues' } }] } : { text: `answer from ${resultsSent(r)}` };
  });
}

describe.each([
  { agent: 'ta', model: 'claude-http' },
  { agent: 'to', model: 'gpt-http' },
])('an HTTP tool in the loop on $model', ({ agent }) => {
  it('sends the call with the workspace secret and gives the answer back to the model; the secret is nowhere in the run', async () => {
    service.handle((req, res) =>
      json(res, 200, { hits: [`result for ${(JSON.parse(req.body) as { query: string }).query}`], echoed: req.headers.authorization }),
    );
    searchThenAnswer();
    const res = await h.request('POST', '/v1/runs', { agent, input: { task: 'Find queues' } });
    const run = await h.waitForRun(res.body.id as string, 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.output).toContain('result for queues');
    expect(service.received).toHaveLength(1);
    expect(service.received[0]!.headers).toMatchObject({ authorization: `Bearer ${SEARCH_KEY}`, 'idempotency-key': `${run.id}.${agent}.1.1` });
    const step = run.steps.find((s) => s.stepId === agent)!;
    expect(step.calls).toMatchObject([{ name: 'web_search', args: { query: 'queues' }, result: expect.stringContaining('Bearer [secret]') }]);
    const { events } = await readEventStream(h.baseUrl, run.id);
    expect(events.length).toBeGreaterThan(2);
    expect(JSON.stringify(run) + JSON.stringify(events) + JSON.stringify(fake.requests)).not.toContain(SEARCH_KEY);
  });

  it('tries a 5xx again until it answers, and gives a 4xx to the model as a tool error', async () => {
    service.handle((_req, res, nth) => (nth < 3 ? json(res, 503, { error: 'busy' }) : json(res, 200, { hits: ['late'] })));
    searchThenAnswer();
    const ok = await h.waitForRun((await h.request('POST', '/v1/runs', { agent, input: { task: 'Retry' } })).body.id as string, 20_000);
    expect(ok.output).toContain('late');
    expect(service.received).toHaveLength(3);

    service.received.length = 0;
    service.handle((_req, res) => json(res, 404, { error: 'no index' }));
    const bad = await h.waitForRun((await h.request('POST', '/v1/runs', { agent, input: { task: 'Missing' } })).body.id as string, 20_000);
    expect(bad.status).toBe('succeeded');
    expect(bad.output).toContain('HTTP 404');
    expect(bad.steps.find((s) => s.stepId === agent)!.calls).toMatchObject([{ name: 'web_search', error: 'HTTP 404: {"error":"no index"}' }]);
    expect(service.received).toHaveLength(1);
  });
});
