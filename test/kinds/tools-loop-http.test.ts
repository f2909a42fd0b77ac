/**
 * The tool loop with an HTTP tool of the agents file (src/tools/http-tool.ts, given by the
 * process's tool sources): a real local service, called by an agent on the real Anthropic and
 * OpenAI SDKs against the fake server, end to end through a run.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlmServer, type FakeLlmServer, type RecordedRequest } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;
let service: Server;
const received: { headers: IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  service = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ weather: `sunny in ${(JSON.parse(body) as { city: string }).city}` }));
    });
  });
  await new Promise<void>((r) => service.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/weather`;
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'tools-loop-http',
    fake,
    agents: {
      ha: { provider: 'anthropic', model: 'claude-http', tools: ['weather'] },
      ho: { provider: 'openai', model: 'gpt-http', tools: ['weather'] },
    },
    tools: {
      weather: {
        description: 'The weather in a city',
        http: { url, method: 'POST' },
        input: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  });
}, 30_000);

afterEach(() => {
  fake.reset();
  received.length = 0;
});

afterAll(async () => {
  await h?.close();
  await fake?.close();
  await new Promise<void>((r) => (service ? service.close(() => r()) : r()));
  assertAllClosed();
});

function resultsSent(r: RecordedRequest): string[] {
  const messages: any[] = r.body.messages;
  if (r.api === 'anthropic')
    return messages
      .at(-1)
      .content.filter((b: any) => b.type === 'tool_result')
      .map((b: any) => String(b.content));
  return messages.filter((m) => m.role === 'tool').map((m) => String(m.content));
}

describe.each([
  { agent: 'ha', model: 'claude-http' },
  { agent: 'ho', model: 'gpt-http' },
])('an agent on $model given an HTTP tool', ({ agent, model }) => {
  it("sends the model's arguments as the JSON body with the call's Idempotency-Key; the response reaches the answer", { timeout: 30_000 }, async () => {
    fake.respondWith((r) => {
      if (r.body?.model !== model) return undefined;
      const turns = r.body.messages.filter((m: any) => m.role === 'assistant').length;
      return turns === 0 ? { toolCalls: [{ name: 'weather', input: { city: 'Lyon' } }] } : { text: `answer from ${resultsSent(r).join(' | ')}` };
    });
    const res = await h.request('POST', '/v1/runs', { agent, input: { task: 'Weather?' } });
    expect(res.status).toBe(202);
    const run = await h.waitForRun(res.body.id as string, 20_000);
    expect(run.status, JSON.stringify(run.steps[0]?.error)).toBe('succeeded');
    expect(run.output).toBe('answer from {"weather":"sunny in Lyon"}');
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]!.body)).toEqual({ city: 'Lyon' });
    expect(received[0]!.headers['idempotency-key']).toBe(`${run.id}.${agent}.1.1`);
    expect(run.steps[0]!.calls).toMatchObject([{ name: 'weather', args: { city: 'Lyon' }, result: '{"weather":"sunny in Lyon"}' }]);
    await expectNoLiveJobs(h.system, run.id);
  });
});
