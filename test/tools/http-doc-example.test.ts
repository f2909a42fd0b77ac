/**
 * The agents file of docs/tools-http.md, as it is shown: it loads (its agent names its three
 * HTTP tools), and each tool, called against a local server standing in for its service, sends
 * what the page says (the JSON body, the query string of a GET, the secrets of the workspace in
 * a header and a URL, the Idempotency-Key) and gives back the answer; the refund asks for
 * approval above 100.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '../../src/agents/keyring.js';
import { WorkspaceSecrets } from '../../src/agents/workspace-secrets.js';
import { AgentsFile } from '../../src/model/agent.js';
import { keys } from '../../src/store/keys.js';
import { scopeOf } from '../../src/store/scope.js';
import { SecretRecords } from '../../src/store/secret-records.js';
import { httpToolSource } from '../../src/tools/http-source.js';
import type { ToolCallScope } from '../../src/tools/tool.js';
import { json, startTestServer, type TestServer } from '../helpers/http-server.js';
import { newRedis, testPrefix } from '../helpers/redis.js';

const page = readFileSync(path.resolve(import.meta.dirname, '..', '..', 'docs', 'tools-http.md'), 'utf8');
const yamlBlock = /^```yaml\n([\s\S]*?)^```/m.exec(page)![1]!;

const cell = { tag: testPrefix('http-doc') };
const redis = newRedis();
const secrets = new WorkspaceSecrets({
  records: new SecretRecords(redis),
  keyring: new Keyring({ key: randomBytes(32).toString('base64'), oldKeys: [] }),
  scope: (ws) => scopeOf(cell, ws),
});
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await secrets.set(scopeOf(cell, 'acme'), 'SEARCH_KEY', 'sk-search-0123456789');
  await secrets.set(scopeOf(cell, 'acme'), 'WEATHER_KEY', 'wk-42');
});
afterAll(async () => {
  await redis.del(keys.secrets(scopeOf(cell, 'acme')), keys.secretWorkspaces(cell));
  await redis.quit();
  await server.close();
});

const scope: ToolCallScope = {
  runId: 'r1',
  stepId: 'research',
  workspace: 'acme',
  turn: 1,
  callId: 'toolu_01',
  idempotencyKey: 'r1.research.1.1',
  signal: new AbortController().signal,
};

describe('the agents file of docs/tools-http.md', () => {
  const file = AgentsFile.parse(parseYaml(yamlBlock));
  // Each service's origin replaced by the local server's: the rest of the URL as shown.
  const local = (spec: (typeof file.tools)[string]) => ({ ...spec, http: { ...spec.http, url: spec.http.url.replace(/^https:\/\/[^/]+/, server.url) } });
  const make = (name: string) => httpToolSource({ egress: undefined, secrets: secrets.lookup })(name, local(file.tools[name]!));

  it('loads, with an agent given its three tools', () => {
    expect(Object.keys(file.tools)).toEqual(['web_search', 'weather', 'refund']);
    expect(file.agents.research!.tools).toEqual(['web_search', 'weather', 'refund']);
  });

  it('calls web_search with the JSON body, the secret header and the Idempotency-Key', async () => {
    server.handle((_req, res) => json(res, 200, { results: [{ title: 'Queues', url: 'https://q.example' }] }));
    expect(await make('web_search').call({ query: 'queues', limit: 3 }, scope)).toEqual({
      content: '{"results":[{"title":"Queues","url":"https://q.example"}]}',
    });
    const sent = server.received.at(-1)!;
    expect(sent).toMatchObject({ method: 'POST', url: '/api/search', body: '{"query":"queues","limit":3}' });
    expect(sent.headers).toMatchObject({
      authorization: 'Bearer sk-search-0123456789',
      'idempotency-key': 'r1.research.1.1',
      'content-type': 'application/json',
    });
  });

  it('calls weather as a GET, its arguments in the query after the URL’s secret', async () => {
    server.handle((_req, res) => res.end('sunny, 21 °C'));
    expect(await make('weather').call({ city: 'Lyon' }, scope)).toEqual({ content: 'sunny, 21 °C' });
    expect(server.received.at(-1)).toMatchObject({ method: 'GET', url: '/v1/today?key=wk-42&city=Lyon' });
  });

  it('asks for approval of a refund above 100 only', () => {
    const refund = make('refund');
    expect(refund.needsApproval({ order: 'A-17', amount: 250 })).toBe(true);
    expect(refund.needsApproval({ order: 'A-18', amount: 20 })).toBe(false);
  });
});
