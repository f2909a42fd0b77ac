/**
 * `kind: http` on the real engine and Redis, calling a real local HTTP server through the
 * outbound client: a 500 is retried with the step's attempts (the same Idempotency-Key on every
 * try) and the answer feeds the next step; a 4xx fails the run naming the status and the body;
 * a text answer is `{status, body}`; url, headers and body are rendered; `{{ secrets.NAME }}`
 * is filled from the workspace's secrets and kept nowhere (record, events, jobs, errors); in
 * production mode a host outside SWITCHYARD_EGRESS_ALLOW is never called and the step fails
 * naming the rule.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { json, startTestServer, type Received, type TestServer } from '../helpers/http-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { dumpKeys, newRedis } from '../helpers/redis.js';

const AGENTS = { writer: { provider: 'echo' } };

let server: TestServer;
let h: Harness;
/** How each path of the server answers (each test its own path), and what it received. */
const routes = new Map<string, (req: Received, res: ServerResponse, nth: number) => void>();
const hits = (path: string): Received[] => server.received.filter((r) => r.url.split('?')[0] === path);

beforeAll(async () => {
  server = await startTestServer();
  server.handle((req, res) => {
    const path = req.url.split('?')[0]!;
    const route = routes.get(path);
    if (!route) return json(res, 404, { error: `no route ${path}` });
    route(req, res, hits(path).length);
  });
  h = await startHarness({ name: 'http-step', agents: AGENTS, env: { SWITCHYARD_SECRETS_KEY: randomBytes(32).toString('base64') } });
});

afterAll(async () => {
  await h?.close();
  await server?.close();
  assertAllClosed();
});

async function run(steps: Record<string, unknown>[], input: Record<string, unknown> = {}, declared: Record<string, unknown> = {}): Promise<RunView> {
  const res = await h.request('POST', '/v1/runs', { workflow: { name: 'http-demo', input: declared, steps }, input });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const view = await h.waitForRun(res.body.id as string, 30_000);
  await expectNoLiveJobs(h.system, view.id);
  return view;
}
const step = (view: RunView, id: string) => view.steps.find((s) => s.stepId === id)!;

describe('an http step', () => {
  it('is retried after a 500, with the same Idempotency-Key, and its JSON answer feeds the next step', async () => {
    routes.set('/tickets', (_req, res, nth) => (nth === 1 ? json(res, 500, { error: 'busy' }) : json(res, 201, { ticket: 'T-42' })));
    const view = await run([
      { id: 'open', kind: 'http', method: 'POST', url: `${server.url}/tickets`, body: { title: 'a ticket' } },
      { id: 'announce', agent: 'writer', dependsOn: ['open'], input: { task: 'Announce ticket {{ steps.open.output.ticket }}' } },
    ]);
    expect(view.status, JSON.stringify(view.steps.map((s) => [s.stepId, s.status, s.error]))).toBe('succeeded');
    const calls = hits('/tickets');
    expect(calls).toHaveLength(2);
    expect(calls.map((c) => c.headers['idempotency-key'])).toEqual([`${view.id}.open`, `${view.id}.open`]);
    expect(JSON.parse(calls[1]!.body)).toEqual({ title: 'a ticket' });
    expect(step(view, 'open')).toMatchObject({ status: 'succeeded', attempts: 2, output: { ticket: 'T-42' } });
    expect((step(view, 'announce').input as { task: string }).task).toBe('Announce ticket T-42');
    const retried = (await h.system.engine.store.events.read(h.system.scope(), view.id)).filter((e) => e.type === 'step.retrying');
    expect(retried.map((e) => [e.stepId, (e.data as { error: string }).error])).toEqual([
      ['open', `POST ${server.url}/tickets answered 500: {"error":"busy"}`],
    ]);
  });

  it('fails its run on a 4xx, at once, naming the status and the start of the body', async () => {
    routes.set('/gone', (_req, res) => json(res, 404, { error: 'no such hook', detail: 'x'.repeat(1000) }));
    const view = await run([{ id: 'post', kind: 'http', method: 'POST', url: `${server.url}/gone`, body: { a: 1 }, attempts: 3 }]);
    expect(view.status).toBe('failed');
    expect(hits('/gone')).toHaveLength(1);
    const error = step(view, 'post').error!;
    expect(error).toContain(`POST ${server.url}/gone answered 404: {"error":"no such hook"`);
    expect(error.length).toBeLessThan(500);
    expect(step(view, 'post').attempts).toBe(1);
  });

  it('retries a 429 (a "slow down") with the step’s backoff, unlike other 4xx', async () => {
    routes.set('/slow-down', (_req, res, nth) => (nth === 1 ? json(res, 429, { error: 'too many' }) : json(res, 200, { ok: true })));
    const view = await run([{ id: 'call', kind: 'http', url: `${server.url}/slow-down` }]);
    expect(view.status).toBe('succeeded');
    expect(step(view, 'call')).toMatchObject({ attempts: 2, output: { ok: true } });
  });

  it('answers {status, body} when the answer is not JSON', async () => {
    routes.set('/text', (_req, res) => {
      res.writeHead(202, { 'content-type': 'text/plain' });
      res.end('accepted, thanks');
    });
    const view = await run([{ id: 'ping', kind: 'http', url: `${server.url}/text` }]);
    expect(view.status).toBe('succeeded');
    expect(view.output).toEqual({ status: 202, body: 'accepted, thanks' });
    expect(hits('/text')[0]!.method).toBe('GET');
  });

  it('renders templates in its url, headers and body, and keeps the request as its input', async () => {
    routes.set('/hooks/acme', (req, res) => json(res, 200, { got: JSON.parse(req.body) as unknown }));
    const view = await run(
      [
        { id: 'draft', agent: 'writer', input: { task: 'Write about {{ input.topic }}' } },
        {
          id: 'send',
          kind: 'http',
          dependsOn: ['draft'],
          method: 'PUT',
          url: `${server.url}/hooks/{{ input.customer }}?topic={{ input.topic }}`,
          headers: { 'x-topic': '{{ input.topic }}' },
          body: { text: '{{ steps.draft.output }}', tags: ['{{ input.customer }}', 'fixed'] },
        },
      ],
      { customer: 'acme', topic: 'agents' },
      { customer: { type: 'string' }, topic: { type: 'string' } },
    );
    expect(view.status, JSON.stringify(view.steps.map((s) => [s.stepId, s.status, s.error]))).toBe('succeeded');
    const [sent] = hits('/hooks/acme');
    expect(sent).toMatchObject({ method: 'PUT', url: '/hooks/acme?topic=agents' });
    expect(sent!.headers['x-topic']).toBe('agents');
    const draft = step(view, 'draft').output as string;
    expect(JSON.parse(sent!.body)).toEqual({ text: draft, tags: ['acme', 'fixed'] });
    expect(step(view, 'send').input).toEqual({
      method: 'PUT',
      url: `${server.url}/hooks/acme?topic=agents`,
      headers: { 'x-topic': 'agents' },
      body: { text: draft, tags: ['acme', 'fixed'] },
    });
    expect(view.output).toEqual({ got: { text: draft, tags: ['acme', 'fixed'] } });
  });

  it('fails when the answer is longer than its maxBytes, naming it', async () => {
    routes.set('/big', (_req, res) => json(res, 200, { blob: 'y'.repeat(5000) }));
    const view = await run([{ id: 'fetch', kind: 'http', url: `${server.url}/big`, maxBytes: 1024 }]);
    expect(view.status).toBe('failed');
    expect(step(view, 'fetch').error).toContain('with a body of more than 1024 bytes (maxBytes');
  });

  it('retries a 5xx whose body is longer than its maxBytes, as any 5xx', async () => {
    routes.set('/big-error', (_req, res, nth) => (nth === 1 ? json(res, 503, { trace: 'z'.repeat(5000) }) : json(res, 200, { ok: true })));
    const view = await run([{ id: 'fetch', kind: 'http', url: `${server.url}/big-error`, maxBytes: 1024 }]);
    expect(view.status).toBe('succeeded');
    expect(step(view, 'fetch')).toMatchObject({ attempts: 2, output: { ok: true } });
  });

  it('fails when no answer comes within its timeoutMs, saying so', async () => {
    routes.set('/slow', () => {
      /* never answers */
    });
    const view = await run([{ id: 'wait', kind: 'http', url: `${server.url}/slow`, timeoutMs: 300, attempts: 1 }]);
    expect(view.status).toBe('failed');
    expect(step(view, 'wait').error).toBe('step timed out after 300 ms');
  });
});

describe('an http step with secrets', () => {
  const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
  const KEY = `key-${randomBytes(12).toString('hex')}`;

  it('fills {{ secrets.NAME }} in its url and headers from the workspace, and keeps the value nowhere', async () => {
    await h.system.api.secrets.set(h.system.scope(), 'HOOK_TOKEN', TOKEN);
    await h.system.api.secrets.set(h.system.scope(), 'HOOK_KEY', KEY);
    routes.set('/secure', (req, res) =>
      req.headers.authorization === `Bearer ${TOKEN}` && req.url === `/secure?key=${KEY}` ? json(res, 200, { ok: true }) : json(res, 401, { error: 'who?' }),
    );
    routes.set(`/refused/${KEY}`, (_req, res) => json(res, 403, { error: 'forbidden' }));
    const ok = await run([
      {
        id: 'call',
        kind: 'http',
        method: 'POST',
        url: `${server.url}/secure?key={{ secrets.HOOK_KEY }}`,
        headers: { authorization: 'Bearer {{ secrets.HOOK_TOKEN }}' },
        body: { a: 1 },
      },
    ]);
    expect(ok.status, JSON.stringify(ok.steps.map((s) => [s.stepId, s.status, s.error]))).toBe('succeeded');
    expect(ok.output).toEqual({ ok: true });
    expect(step(ok, 'call').input).toMatchObject({
      url: `${server.url}/secure?key={{ secrets.HOOK_KEY }}`,
      headers: { authorization: 'Bearer {{ secrets.HOOK_TOKEN }}' },
    });
    // A whole URL may be a secret (a webhook URL that holds its token).
    await h.system.api.secrets.set(h.system.scope(), 'HOOK_URL', `${server.url}/whole/${TOKEN}`);
    routes.set(`/whole/${TOKEN}`, (_req, res) => json(res, 200, { whole: true }));
    const whole = await run([{ id: 'call', kind: 'http', method: 'POST', url: '{{ secrets.HOOK_URL }}', body: { a: 1 } }]);
    expect(whole.output).toEqual({ whole: true });
    expect(step(whole, 'call').input).toMatchObject({ url: '{{ secrets.HOOK_URL }}' });
    const refused = await run([{ id: 'call', kind: 'http', url: `${server.url}/refused/{{ secrets.HOOK_KEY }}` }]);
    expect(refused.status).toBe('failed');
    expect(step(refused, 'call').error).toBe(`GET ${server.url}/refused/{{ secrets.HOOK_KEY }} answered 403: {"error":"forbidden"}`);
    // Nothing under the harness's keys (records, events, BullMQ jobs, the sealed secrets) holds a value in clear.
    const redis = newRedis();
    try {
      const dump = [...(await dumpKeys(redis, h.prefix))];
      // The scan reads the step's record: the request is there, its secrets as templates.
      expect(dump.some(([, v]) => v.includes('/secure?key={{ secrets.HOOK_KEY }}'))).toBe(true);
      expect(dump.filter(([, v]) => v.includes(TOKEN) || v.includes(KEY)).map(([k]) => k)).toEqual([]);
    } finally {
      await redis.quit();
    }
  });

  it('fails naming a secret the workspace does not have, without calling', async () => {
    routes.set('/never', (_req, res) => json(res, 200, { ok: true }));
    const view = await run([{ id: 'call', kind: 'http', url: `${server.url}/never`, headers: { 'x-key': '{{ secrets.NOT_SET }}' } }]);
    expect(view.status).toBe('failed');
    expect(step(view, 'call').error).toBe('the secret "NOT_SET" is not set in workspace "default" (PUT /v1/workspaces/default/secrets/NOT_SET)');
    expect(hits('/never')).toHaveLength(0);
  });
});

describe('an http step definition', () => {
  const validate = (steps: Record<string, unknown>[]) => h.request('POST', '/v1/workflows/validate', { name: 'bad-http', steps });

  it('is refused with the problem named: a body on a GET, a url that is not http(s), a secret in the body', async () => {
    const res = await validate([
      { id: 'a', kind: 'http', url: 'https://hooks.example/x', body: { x: 1 } },
      { id: 'b', kind: 'http', url: 'ftp://files.example/x' },
      { id: 'c', kind: 'http', method: 'POST', url: 'https://hooks.example/x', body: { token: '{{ secrets.TOKEN }}' } },
      { id: 'e', kind: 'http', url: 'https://hooks.example/x', headers: { 'x-key': '{{ secrets.bad-name }}' } },
    ]);
    expect(res.status).toBe(422);
    const issues = (res.body.error.issues as { path: string; message: string }[]).map((i) => `${i.path}: ${i.message}`).join('\n');
    expect(issues).toContain('steps[0].body: a GET request has no body');
    expect(issues).toContain('steps[1].url: only http and https URLs are called, not ftp:');
    expect(issues).toContain('steps[2].body.token: {{ secrets.TOKEN }}: secrets are allowed in the url and headers only');
    expect(issues).toContain('steps[3].headers["x-key"]: {{ secrets.bad-name }}: name one secret, as {{ secrets.NAME }}');
  });

  it('is refused for a method it does not send, naming those it does', async () => {
    const res = await validate([{ id: 'd', kind: 'http', method: 'TRACE', url: 'https://hooks.example/x' }]);
    expect(res.status).toBe(422);
    expect(res.body.error.issues).toEqual([{ path: 'steps[0].method', message: expect.stringContaining('"GET"|"POST"|"PUT"|"PATCH"|"DELETE"') as string }]);
  });
});

describe('the http step in the OpenAPI document', () => {
  it('is one of the step definitions a workflow may hold, from its zod schema', async () => {
    const res = await h.request('GET', '/openapi.json');
    expect(res.status).toBe(200);
    const found: Record<string, any>[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === 'object') {
        const o = v as Record<string, any>;
        if (o.properties?.kind?.const === 'http') found.push(o);
        Object.values(o).forEach(walk);
      }
    };
    walk(res.body.components.schemas);
    const definition = found.find((o) => o.properties.maxBytes?.maximum === 10_000_000 && o.properties.url?.maxLength === 8192);
    expect(definition, JSON.stringify(found.map((o) => Object.keys(o.properties)))).toBeDefined();
    expect(definition!.required).toEqual(expect.arrayContaining(['id', 'kind', 'url']));
    expect(definition!.properties.method.enum).toEqual(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
  });
});

describe('an http step in production mode', () => {
  it('is refused by egress for a host outside SWITCHYARD_EGRESS_ALLOW: the step fails naming the rule, nothing is called', async () => {
    const prod = await startHarness({ name: 'http-step-prod', agents: AGENTS, env: { NODE_ENV: 'production', SWITCHYARD_EGRESS_ALLOW: 'hooks.example.com' } });
    try {
      routes.set('/prod', (_req, res) => json(res, 200, { ok: true }));
      const definition = { name: 'egress-demo', steps: [{ id: 'notify', kind: 'http', method: 'POST', url: `${server.url}/prod`, body: { a: 1 } }] };
      const { id } = await prod.system.api.submissions.submitWorkflow(prod.system.scope(), definition, {});
      const view = await prod.waitForRun(id, 30_000);
      expect(view.status).toBe('failed');
      expect(step(view, 'notify').error).toBe(`POST ${server.url}/prod: egress refused: host "127.0.0.1" is not in SWITCHYARD_EGRESS_ALLOW`);
      expect(step(view, 'notify').attempts).toBe(1);
      expect(hits('/prod')).toHaveLength(0);
    } finally {
      await prod.close();
    }
  });
});
