/**
 * An HTTP tool against a real local server, its secrets from a workspace's sealed store in
 * real Redis: the answer is the result (cut past maxResultBytes, saying so), a 5xx is tried again
 * until it succeeds, a 4xx and spent tries reach the model as errors, egress refused names the
 * rule, the Idempotency-Key is the call's and the same on each try, a secret header is filled
 * from the workspace and is never in the outcome, a missing secret is named, approval rules.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '../../src/agents/keyring.js';
import { WorkspaceSecrets } from '../../src/agents/workspace-secrets.js';
import { HttpToolSpec } from '../../src/model/tool.js';
import { createOutbound } from '../../src/net/outbound.js';
import { keys } from '../../src/store/keys.js';
import { scopeOf } from '../../src/store/scope.js';
import { SecretRecords } from '../../src/store/secret-records.js';
import { httpToolSource } from '../../src/tools/http-source.js';
import { httpTool } from '../../src/tools/http-tool.js';
import type { ToolCallScope } from '../../src/tools/tool.js';
import { json, startTestServer, type TestServer } from '../helpers/http-server.js';
import { newRedis, testPrefix } from '../helpers/redis.js';

const cell = { tag: testPrefix('http-tool') };
const redis = newRedis();
const secrets = new WorkspaceSecrets({
  records: new SecretRecords(redis),
  keyring: new Keyring({ key: randomBytes(32).toString('base64'), oldKeys: [] }),
  scope: (ws) => scopeOf(cell, ws),
});
const SEARCH_KEY = `sk-search-${randomBytes(10).toString('hex')}`;
const dev = createOutbound({ egress: { production: false, allow: [] }, backoffMs: 5 });

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  await secrets.set(scopeOf(cell, 'acme'), 'SEARCH_KEY', SEARCH_KEY);
});
afterEach(() => {
  server.received.length = 0;
});
afterAll(async () => {
  await redis.del(keys.secrets(scopeOf(cell, 'acme')), keys.secretWorkspaces(cell));
  await redis.quit();
  await server.close();
});

const tool = (http: Record<string, unknown>, extra: Record<string, unknown> = {}, outbound = dev) =>
  httpTool('web_search', HttpToolSpec.parse({ description: 'Search the web', http: { url: `${server.url}/search`, ...http }, ...extra }), {
    outbound,
    secrets: secrets.lookup,
  });

const scope = (over: Partial<ToolCallScope> = {}): ToolCallScope => ({
  runId: 'r1',
  stepId: 'research',
  workspace: 'acme',
  turn: 2,
  callId: 'call_9',
  idempotencyKey: 'r1.research.2.call_9',
  signal: new AbortController().signal,
  ...over,
});

describe('an HTTP tool', () => {
  it('offers its definition and sends the arguments as the JSON body; the answer is the result', async () => {
    server.handle((req, res) => json(res, 200, { results: [{ title: 'hit', q: (JSON.parse(req.body) as { query: string }).query }] }));
    const t = tool({}, { input: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } });
    expect(t.kind).toBe('http');
    expect(t.definition).toEqual({
      name: 'web_search',
      description: 'Search the web',
      inputSchema: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
    });
    expect(await t.call({ query: 'queues' }, scope())).toEqual({ content: '{"results":[{"title":"hit","q":"queues"}]}' });
    expect(server.received[0]).toMatchObject({ method: 'POST', url: '/search', body: '{"query":"queues"}' });
    expect(server.received[0]!.headers['idempotency-key']).toBe('r1.research.2.call_9');
  });

  it('sends a GET’s arguments as its query string and returns a text answer as it is', async () => {
    server.handle((_req, res) => res.end('plain answer'));
    expect(await tool({ method: 'GET' }).call({ q: 'a b', n: 2 }, scope())).toEqual({ content: 'plain answer' });
    expect(server.received[0]!.url).toBe('/search?q=a+b&n=2');
  });

  it('tries a 5xx again with the same Idempotency-Key, and returns the answer that succeeds', async () => {
    server.handle((_req, res, nth) => (nth <= 2 ? json(res, 502, { error: 'bad gateway' }) : json(res, 200, { ok: true })));
    expect(await tool({ attempts: 3 }).call({ query: 'x' }, scope())).toEqual({ content: '{"ok":true}' });
    expect(server.received.map((r) => r.headers['idempotency-key'])).toEqual(['r1.research.2.call_9', 'r1.research.2.call_9', 'r1.research.2.call_9']);
  });

  it('gives the model a 5xx as an error once the tries are spent, and a 4xx at once', async () => {
    server.handle((_req, res) => json(res, 503, { error: 'down' }));
    expect(await tool({ attempts: 2 }).call({}, scope())).toEqual({ isError: true, content: 'HTTP 503 after 2 tries: {"error":"down"}' });
    expect(server.received).toHaveLength(2);

    server.received.length = 0;
    server.handle((_req, res) => json(res, 404, { error: 'no such thing' }));
    expect(await tool({ attempts: 3 }).call({}, scope())).toEqual({ isError: true, content: 'HTTP 404: {"error":"no such thing"}' });
    expect(server.received).toHaveLength(1);
  });

  it('gives the model a network failure as an error once the tries are spent', async () => {
    server.handle(() => undefined);
    const out = await tool({ attempts: 2, timeoutMs: 150 }).call({}, scope());
    expect(out).toEqual({ isError: true, content: `tool "web_search": POST ${server.url}/search: no answer within 150 ms (after 2 tries)` });
  });

  it('cuts a result past maxResultBytes and says so', async () => {
    server.handle((_req, res) => json(res, 200, { text: 'é'.repeat(5000) }));
    const out = await tool({ maxResultBytes: 101 }).call({}, scope());
    expect(out.isError).toBeUndefined();
    const [kept, note] = out.content.split('\n');
    expect(Buffer.byteLength(kept!)).toBeLessThanOrEqual(101);
    expect(kept).toMatch(/^\{"text":"é+$/);
    expect(note).toBe('[result cut at 101 bytes: the answer was longer]');
  });

  it('fills a secret header (and a URL secret) from the workspace, and keeps it out of the outcome', async () => {
    // A careless service that echoes what it was sent: the echoed secret is replaced.
    server.handle((req, res) => json(res, 200, { auth: req.headers.authorization, url: req.url }));
    const t = tool({ url: `${server.url}/search?key={{ secrets.SEARCH_KEY }}`, headers: { Authorization: 'Bearer {{secrets.SEARCH_KEY}}' } });
    const out = await t.call({ query: 'x' }, scope());
    expect(server.received[0]!.headers.authorization).toBe(`Bearer ${SEARCH_KEY}`);
    expect(server.received[0]!.url).toBe(`/search?key=${SEARCH_KEY}`);
    expect(out).toEqual({ content: '{"auth":"Bearer [secret]","url":"/search?key=[secret]"}' });
    expect(JSON.stringify(out)).not.toContain(SEARCH_KEY);

    // Its errors neither.
    server.handle((req, res) => json(res, 401, { error: `bad key ${req.headers.authorization}` }));
    const denied = await t.call({}, scope());
    expect(denied).toEqual({ isError: true, content: 'HTTP 401: {"error":"bad key Bearer [secret]"}' });
  });

  it('fails a call naming a secret the workspace does not have, without calling', async () => {
    const t = tool({ headers: { 'x-api-key': '{{ secrets.SEARCH_KEY }}', 'x-other': '{{ secrets.NOT_SET }}' } });
    expect(await t.call({}, scope())).toEqual({
      isError: true,
      content: 'tool "web_search": the secret "NOT_SET" is not set in workspace "acme" (PUT /v1/workspaces/acme/secrets/NOT_SET)',
    });
    // Another workspace has none of acme's.
    expect((await tool({ headers: { 'x-api-key': '{{ secrets.SEARCH_KEY }}' } }).call({}, scope({ workspace: 'beta' }))).content).toContain(
      '"SEARCH_KEY" is not set in workspace "beta"',
    );
    expect(server.received).toHaveLength(0);
  });

  it('gives the model a refused egress as an error naming the rule, without calling', async () => {
    const prod = createOutbound({ egress: { production: true, allow: ['api.example.com'] } });
    const out = await tool({}, {}, prod).call({}, scope());
    expect(out).toEqual({ isError: true, content: 'tool "web_search": egress refused: host "127.0.0.1" is not in SWITCHYARD_EGRESS_ALLOW' });
    expect(server.received).toHaveLength(0);
  });

  it('is made by the toolbox’s source with the deployment’s egress rules and the workspaces’ secrets', async () => {
    server.handle((req, res) => json(res, 200, { key: req.headers['x-api-key'] === SEARCH_KEY }));
    const spec = HttpToolSpec.parse({ description: 'd', http: { url: `${server.url}/s`, headers: { 'x-api-key': '{{ secrets.SEARCH_KEY }}' } } });
    expect(await httpToolSource({ egress: undefined, secrets: secrets.lookup })('s', spec).call({}, scope())).toEqual({ content: '{"key":true}' });
    const prod = httpToolSource({ egress: { production: true, allow: ['*.example.com'] }, secrets: secrets.lookup });
    expect((await prod('s', spec).call({}, scope())).content).toBe('tool "s": egress refused: host "127.0.0.1" is not in SWITCHYARD_EGRESS_ALLOW');
  });

  it('throws when the step is cancelled rather than telling the model', async () => {
    server.handle(() => undefined);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expect(tool({ timeoutMs: 10_000 }).call({}, scope({ signal: ac.signal }))).rejects.toThrow(/cancelled/);
  });

  it('asks for approval as its rule says: never, required, or when over the arguments', () => {
    expect(tool({}).needsApproval({ amount: 1 })).toBe(false);
    expect(tool({}, { approval: 'required' }).needsApproval({})).toBe(true);
    const rule = tool({}, { approval: { when: 'args.amount > 100' } });
    expect(rule.needsApproval({ amount: 500 })).toBe(true);
    expect(rule.needsApproval({ amount: 5 })).toBe(false);
    expect(() => tool({}, { approval: { when: 'input.x > 1 &&' } })).toThrow(/when/);
  });
});
