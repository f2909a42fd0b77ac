/**
 * GET /openapi.json describes every route the app answers, and the answers are what it says:
 * the real server (real Redis, BullMQ workers, echo agents) is driven through runs (create,
 * get, list, events, cancel, rerun, an approval, feedback), schedules, agents, keys, stats,
 * workflows and errors (400, 401, 403, 404, 409, 415, 422, 429), and each answer's status must
 * be documented for its operation and its body must match the documented schema. /docs serves
 * its page and assets from this server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { openApiPath } from '../../src/api/openapi.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { SpecChecker, expressRoutes, type Spec } from '../helpers/openapi.js';

const agents = { writer: { provider: 'echo' } };
const workflows = [
  {
    name: 'two',
    steps: [
      { id: 'a', agent: 'writer', input: { task: 'a' } },
      { id: 'b', agent: 'writer', dependsOn: ['a'], input: { task: 'b' } },
    ],
  },
  {
    name: 'gated',
    steps: [
      { id: 'draft', agent: 'writer', input: { task: 'draft' } },
      { id: 'gate', kind: 'approval', dependsOn: ['draft'] },
    ],
  },
];
/** Bull Board's own pages and API, mounted as a whole: a UI, not part of this API. */
const NOT_API = /^[A-Z]+ \/admin\/queues/;

let h: Harness;
let limited: Harness;
let spec: Spec;
let checker: SpecChecker;
let admin: Record<string, string>;
let reader: Record<string, string>;

async function call(method: string, path: string, body?: unknown, headers = admin) {
  const res = await h.request(method, path, body, headers);
  checker.check(method, path.split('?')[0]!, res);
  return res;
}

beforeAll(async () => {
  h = await startHarness({ name: 'openapi', agents, workflows });
  const res = await h.request('GET', '/openapi.json');
  expect(res.status).toBe(200);
  spec = res.body as Spec;
  checker = new SpecChecker(spec);
  admin = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'default', scopes: ['admin'] })).key}` };
  reader = { authorization: `Bearer ${(await h.system.keys.create({ workspace: 'default', scopes: ['runs:read'] })).key}` };
});

afterAll(async () => {
  await h?.system.schedules.remove(h.system.scope(), 'nightly').catch(() => undefined);
  await h?.close();
  await limited?.close();
  assertAllClosed();
});

describe('GET /openapi.json', () => {
  it('is OpenAPI 3.1, served without a credential, and names every route the app answers', async () => {
    expect(spec).toMatchObject({ openapi: '3.1.0', info: { title: 'Switchyard' } });
    const app = createApp(h.system, { bodyLimit: '100kb' });
    const answered = expressRoutes(app).filter((r) => !NOT_API.test(r));
    const described = Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const missing = answered.filter((r) => !described.includes(r.replace(/ (.*)$/, (_, p: string) => ` ${openApiPath(p)}`)));
    expect(missing, 'routes the app answers that /openapi.json does not describe').toEqual([]);
    expect(answered.length).toBeGreaterThan(30);
    const refs = [...JSON.stringify(spec).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(
      refs.filter((name) => !(name in spec.components.schemas)),
      'references to no component',
    ).toEqual([]);
    expect(described.length).toBe(answered.length);
    const tags = new Set((spec as unknown as { tags: { name: string }[] }).tags.map((t) => t.name));
    const ops = Object.values(spec.paths).flatMap((byMethod) => Object.values(byMethod) as unknown as { tags: string[] }[]);
    expect(
      ops.flatMap((op) => op.tags.filter((t) => !tags.has(t))),
      'tags the document does not list',
    ).toEqual([]);
  });

  it('gives each route its scope as a security requirement, and the error shape', () => {
    const op = spec.paths['/v1/runs/{id}/cancel']!.post as unknown as Record<string, unknown>;
    expect(op.security).toEqual([{ bearer: ['runs:write'] }]);
    expect(Object.keys(op.responses as object)).toEqual(expect.arrayContaining(['200', '401', '403', '404', '409', '429']));
    expect((spec.paths['/healthz']!.get as unknown as { security: unknown }).security).toEqual([]);
    const events = spec.paths['/v1/runs/{id}/events']!.get!.responses['200']!.content!;
    expect(Object.keys(events)).toEqual(['text/event-stream']);
    expect(JSON.stringify(spec.components.schemas.RunEvent)).toContain('step.completed');
  });
});

describe('answers match the spec', () => {
  it('runs: create, get, list, events, context, outputs, messages, rerun, feedback, stats, insights', async () => {
    const made = await call('POST', '/v1/runs', { workflow: 'two', input: {} });
    expect(made.status).toBe(202);
    const id = made.body.id as string;
    await h.waitForRun(id);
    expect((await call('POST', '/v1/runs', { agent: 'writer', input: { task: 'hi' }, idempotencyKey: 'k1' })).status).toBe(202);
    expect((await call('POST', '/v1/runs', { agent: 'writer', input: { task: 'hi' }, idempotencyKey: 'k1' })).status).toBe(200);
    expect((await call('POST', '/v1/runs', { pattern: 'parallel', tasks: [{ agent: 'writer', task: 'x' }] })).status).toBe(202);
    expect((await call('GET', `/v1/runs/${id}?include=definition`)).status).toBe(200);
    expect((await call('GET', '/v1/runs?limit=2&include=input,output')).status).toBe(200);
    expect((await call('GET', '/v1/runs?status=succeeded')).status).toBe(200);
    expect((await call('GET', `/v1/runs/${id}/context`)).status).toBe(200);
    expect((await call('GET', `/v1/runs/${id}/outputs`)).status).toBe(200);
    expect((await call('GET', `/v1/runs/${id}/messages`)).status).toBe(200);
    const events = await fetch(`${h.baseUrl}/v1/runs/${id}/events`, { headers: admin });
    checker.check('GET', `/v1/runs/${id}/events`, { status: events.status, body: await events.text(), headers: events.headers });
    const rerun = await call('POST', `/v1/runs/${id}/rerun`, { fromStep: 'b' });
    expect(rerun.status).toBe(202);
    await h.waitForRun(rerun.body.id as string);
    expect((await call('POST', `/v1/runs/${id}/steps/b/feedback`, { rating: 4, useful: true })).status).toBe(200);
    expect((await call('GET', '/v1/stats')).status).toBe(200);
    expect((await call('GET', '/v1/insights')).status).toBe(200);
    expect((await call('POST', '/v1/chat/multi', { message: 'hi', agents: ['writer'] })).status).toBe(202);
    // A finished run: cancel is a 409, events after the last one a 204.
    expect((await call('POST', `/v1/runs/${id}/cancel`)).status).toBe(409);
    const after = await fetch(`${h.baseUrl}/v1/runs/${id}/events`, { headers: { ...admin, 'last-event-id': '999' } });
    checker.check('GET', `/v1/runs/${id}/events`, { status: after.status, body: await after.text(), headers: after.headers });
  });

  it('a body unlike its schema fails the check (an extra field, a missing one, a wrong type)', async () => {
    const res = await h.request('GET', '/v1/runs?limit=1', undefined, admin);
    const run = (res.body as { runs: Record<string, unknown>[] }).runs[0]!;
    const variants = [{ ...run, extra: 1 }, { ...run, status: 'nearly' }, Object.fromEntries(Object.entries(run).filter(([k]) => k !== 'usage'))];
    for (const v of variants) expect(() => checker.check('GET', '/v1/runs', { ...res, body: { runs: [v], nextCursor: null } })).toThrow();
    expect(() => checker.check('GET', '/v1/runs', { ...res, status: 418 })).toThrow(/does not document/);
  });

  it('an approval, and a cancel of a run waiting at its gate', async () => {
    const approved = (await call('POST', '/v1/runs', { workflow: 'gated' })).body.id as string;
    await h.waitUntil(approved, (r) => r.status === 'waiting');
    expect((await call('GET', `/v1/runs/${approved}`)).body.waitingAt).toHaveLength(1);
    expect((await call('POST', `/v1/runs/${approved}/steps/gate/approve`, { by: 'ana', comment: 'ok' })).status).toBe(200);
    expect((await h.waitForRun(approved)).status).toBe('succeeded');
    expect((await call('POST', `/v1/runs/${approved}/steps/gate/reject`, {})).status).toBe(409);
    const cancelled = (await call('POST', '/v1/runs', { workflow: 'gated' })).body.id as string;
    await h.waitUntil(cancelled, (r) => r.status === 'waiting');
    expect((await call('POST', `/v1/runs/${cancelled}/cancel`)).body).toEqual({ id: cancelled, status: 'cancelled' });
  });

  it('schedules, agents, workflows, keys, audit, limits, health', async () => {
    expect((await call('PUT', '/v1/schedules/nightly', { workflow: 'two', cron: '0 3 * * *' })).status).toBe(200);
    expect((await call('GET', '/v1/schedules')).status).toBe(200);
    expect((await call('GET', '/v1/schedules/nightly')).status).toBe(200);
    expect((await call('DELETE', '/v1/schedules/nightly')).status).toBe(204);
    expect((await call('GET', '/v1/agents?include=prompts')).status).toBe(200);
    expect((await call('GET', '/v1/agents/writer')).status).toBe(200);
    expect((await call('POST', '/v1/agents', { name: 'mine', provider: 'echo', model: 'echo' })).status).toBe(201);
    expect((await call('PATCH', '/v1/agents/mine', { systemPrompt: 'be brief' })).status).toBe(200);
    expect((await call('POST', '/v1/agents/mine/test', { prompt: 'hello' })).status).toBe(200);
    expect((await call('DELETE', '/v1/agents/mine')).status).toBe(204);
    expect((await call('GET', '/v1/workflows')).status).toBe(200);
    expect((await call('GET', '/v1/workflows/two')).status).toBe(200);
    expect((await call('POST', '/v1/workflows/validate', workflows[0])).status).toBe(200);
    const key = await call('POST', '/v1/keys', { workspace: 'acme', scopes: 'runs:read', expires: '1d' });
    expect(key.status).toBe(201);
    expect((await call('GET', '/v1/keys')).status).toBe(200);
    expect((await call('DELETE', `/v1/keys/${key.body.id}`)).status).toBe(200);
    expect((await call('GET', '/v1/audit?limit=5')).status).toBe(200);
    expect((await call('GET', '/v1/limits')).status).toBe(200);
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/readyz')).status).toBe(200);
  });

  it('errors: 400, 401, 403, 404, 409, 415, 422', async () => {
    expect((await call('POST', '/v1/runs', '{"agent":', admin)).status).toBe(400);
    expect((await call('GET', '/v1/runs', undefined, {})).status).toBe(401);
    expect((await call('POST', '/v1/runs', { agent: 'writer', input: { task: 'x' } }, reader)).status).toBe(403);
    expect((await call('GET', '/v1/runs/run_doesnotexist')).status).toBe(404);
    expect((await call('GET', '/v1/schedules/nope')).status).toBe(404);
    expect((await call('POST', '/v1/agents', { name: 'writer', provider: 'echo', model: 'echo' })).status).toBe(409);
    expect((await call('POST', '/v1/runs', 'x', { ...admin, 'content-type': 'text/plain' })).status).toBe(415);
    expect((await call('POST', '/v1/runs', { agent: 'writer', input: { task: '' } })).status).toBe(422);
    expect((await call('GET', '/v1/runs?colour=red')).status).toBe(422);
    const bad = await fetch(`${h.baseUrl}/v1/runs/run_x/events?after=x`, { headers: admin });
    checker.check('GET', '/v1/runs/run_x/events', { status: bad.status, body: await bad.json(), headers: bad.headers });
    expect(bad.status).toBe(400);
  });

  it('errors: 429 over a workspace request rate', async () => {
    limited = await startHarness({
      name: 'openapi-429',
      agents,
      pools: false,
      env: { SWITCHYARD_API_RATE_PER_WORKSPACE: '0.01', SWITCHYARD_API_BURST_PER_WORKSPACE: '1' },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await limited.request('GET', '/v1/runs');
      checker.check('GET', '/v1/runs', res);
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 429]);
  });
});

describe('/docs', () => {
  it('serves its page, its script and the Swagger UI assets from this server', async () => {
    const page = await fetch(`${h.baseUrl}/docs`);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(sources.every((s) => s.startsWith('/docs/'))).toBe(true);
    for (const src of sources) expect((await fetch(`${h.baseUrl}${src}`)).status, src).toBe(200);
    expect(await (await fetch(`${h.baseUrl}/docs/init.js`)).text()).toContain("url: '/openapi.json'");
    expect((await fetch(`${h.baseUrl}/docs/assets/index.html`)).status).toBe(404);
  });
});
