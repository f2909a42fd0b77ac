/**
 * Webhooks end to end: real Redis, real BullMQ workers, a real local HTTP receiver. A run's
 * webhook is signed and the test verifies it with the docs' snippet; a 500 is retried (same
 * event id) until delivered; an event notified twice is delivered once; a workspace's
 * subscription (POST /v1/webhooks) gets an approval's step.waiting, a schedule's only its runs';
 * deliveries are listed; a secret without SWITCHYARD_SECRETS_KEY is a 422;
 * production egress refuses a host outside the allow list (recorded, not retried); the secret
 * is never in Redis in clear.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/store/keys.js';
import { WebhookRecords } from '../../src/store/webhook-records.js';
import { verifySignature } from '../../src/webhooks/signature.js';
import { assertAllClosed, startHarness, webhooksSettled, type Harness } from '../helpers/harness.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { poll } from '../helpers/poll.js';

const SECRETS_KEY = randomBytes(32).toString('base64');
const SECRET = `whsec_test_${randomBytes(12).toString('hex')}`;
const FAST = { webhookBackoffMs: [100, 200, 300] };

let h: Harness;
let receiver: TestServer;
let verifyWebhook: (rawBody: string, header: string, secret: string) => unknown;

/** The verification snippet of docs/webhooks.md (its one ```js block), as a module. */
async function docsSnippet(): Promise<typeof verifyWebhook> {
  const page = readFileSync(path.resolve(import.meta.dirname, '..', '..', 'docs', 'webhooks.md'), 'utf8');
  const code = /^```js\n([\s\S]*?)^```/m.exec(page)![1]!;
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'webhook-doc-')), 'verify.mjs');
  writeFileSync(file, code);
  return ((await import(pathToFileURL(file).href)) as { verifyWebhook: typeof verifyWebhook }).verifyWebhook;
}

beforeAll(async () => {
  verifyWebhook = await docsSnippet();
  receiver = await startTestServer();
  h = await startHarness({ name: 'api-webhooks', agents: { a: { provider: 'echo' } }, env: { SWITCHYARD_SECRETS_KEY: SECRETS_KEY }, poolOptions: FAST });
});

afterAll(async () => {
  await h?.close();
  await receiver?.close();
  assertAllClosed();
});

/** Every key of the harness's prefix, and its value's text (strings, hashes, lists). */
async function redisText(x: Harness): Promise<string> {
  const redis = x.system.api.store.redis;
  const out: string[] = [];
  for (const key of await redis.keys(`${x.prefix}*`)) {
    const type = await redis.type(key);
    if (type === 'string') out.push((await redis.get(key)) ?? '');
    else if (type === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
    else if (type === 'list') out.push(JSON.stringify(await redis.lrange(key, 0, -1)));
  }
  return out.join('\n');
}

const deliveries = async (id: string) =>
  (await h.request('GET', `/v1/webhooks/${id}/deliveries`)).body.deliveries as { outcome: string; eventId: string; attempt: number; httpStatus?: number }[];

describe("a run's webhook", () => {
  it('is signed (the docs snippet verifies it), retried after a 500 with the same event id, delivered once, listed, never stored in clear', async () => {
    const at = receiver.received.length;
    receiver.handle((_req, res, nth) => {
      res.statusCode = nth === at + 1 ? 500 : 204;
      res.end();
    });
    const sub = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'hello' }, webhook: { url: `${receiver.url}/hook`, secret: SECRET } });
    expect(sub.status).toBe(202);
    const runId = sub.body.id as string;
    await h.waitForRun(runId);
    const got = await poll(
      'a delivery after the 500',
      () => receiver.received.slice(at),
      (r) => r.length >= 2,
      { timeoutMs: 15_000 },
    );
    const [first, second] = got as [(typeof got)[0], (typeof got)[0]];
    for (const r of [first, second]) {
      expect(r.method).toBe('POST');
      expect(r.url).toBe('/hook');
      const sig = String(r.headers['x-switchyard-signature']);
      expect(sig).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(verifySignature(SECRET, sig, r.body)).toBe(true);
      expect(verifyWebhook(r.body, sig, SECRET)).toEqual(JSON.parse(r.body));
      expect(verifySignature('another-secret-of-16', sig, r.body)).toBe(false);
    }
    const event = JSON.parse(second.body) as { id: string; type: string; runId: string; data: { status: string } };
    expect(event).toMatchObject({ id: `${runId}.run.finished`, type: 'run.finished', runId, workspace: 'default', data: { status: 'succeeded', error: null } });
    expect(JSON.parse(first.body).id).toBe(event.id);
    expect(second.headers['x-switchyard-event-id']).toBe(event.id);
    // A forged body does not verify.
    expect(() => verifyWebhook(second.body.replace('succeeded', 'failed'), String(second.headers['x-switchyard-signature']), SECRET)).toThrow();

    // Told again of the same event (a finisher delivered twice): queued under the delivered job's id, nothing is left to send.
    await webhooksSettled(h.system);
    await h.system.engine.webhooks.notify(h.system.scope(), { id: event.id, type: 'run.finished', runId, data: { status: 'succeeded' } });
    await webhooksSettled(h.system);
    expect(receiver.received.slice(at).length).toBe(2);

    const listed = await poll(
      'both attempts recorded',
      () => deliveries(`run-${runId}`),
      (d) => d.length === 2,
    );
    expect(listed.map((d) => [d.outcome, d.httpStatus, d.attempt, d.eventId])).toEqual([
      ['delivered', 204, 2, event.id],
      ['failed', 500, 1, event.id],
    ]);
    expect(await redisText(h)).not.toContain(SECRET);
  });

  it('of a chat (POST /v1/chat/multi) is kept and sent its run.finished, signed', async () => {
    const sub = await h.request('POST', '/v1/chat/multi', { message: 'hi', agents: ['a'], webhook: { url: `${receiver.url}/chat`, secret: SECRET } });
    expect(sub.status).toBe(202);
    const runId = sub.body.id as string;
    const got = await poll(
      "the chat's run.finished",
      () => receiver.received.filter((r) => r.url === '/chat'),
      (r) => r.length >= 1,
      { timeoutMs: 10_000 },
    );
    const event = verifyWebhook(got[0]!.body, got[0]!.headers['x-switchyard-signature'] as string, SECRET) as {
      type: string;
      runId: string;
      data: { status: string };
    };
    expect(event).toMatchObject({ type: 'run.finished', runId, data: { status: 'succeeded' } });
  });

  it('refuses a bad webhook with a 422 naming it', async () => {
    const bad = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'x' }, webhook: { url: 'ftp://x', events: ['run.started'] } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.message).toContain('webhook.url');
    expect(bad.body.error.message).toContain('webhook.events');
  });
});

describe("a workspace's subscriptions", () => {
  it('are made (a secret shown once), listed, told of an approval waiting, and deleted', async () => {
    const at = receiver.received.length;
    receiver.handle((_req, res) => res.end('ok'));
    const made = await h.request('POST', '/v1/webhooks', { url: `${receiver.url}/ws`, events: ['step.waiting', 'run.finished'] });
    expect(made.status).toBe(201);
    const { id, secret } = made.body as { id: string; secret: string };
    expect(secret).toMatch(/^whsec_/);
    const listed = await h.request('GET', '/v1/webhooks');
    expect(listed.body.webhooks).toEqual([
      { id, url: `${receiver.url}/ws`, events: ['step.waiting', 'run.finished'], signed: true, createdAt: expect.any(String) },
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    const workflow = {
      name: 'gated',
      steps: [
        { id: 'draft', agent: 'a', input: { task: 'draft' } },
        { id: 'gate', kind: 'approval', dependsOn: ['draft'], input: { task: 'Approve the draft' } },
      ],
    };
    const sub = await h.request('POST', '/v1/runs', { workflow, input: {} });
    expect(sub.status).toBe(202);
    const runId = sub.body.id as string;
    const waiting = await poll(
      'step.waiting delivered',
      () => receiver.received.slice(at).filter((r) => r.url === '/ws'),
      (r) => r.length >= 1,
      { timeoutMs: 15_000 },
    );
    const event = JSON.parse(waiting[0]!.body);
    expect(event).toMatchObject({ id: `${runId}.gate.step.waiting`, type: 'step.waiting', runId, stepId: 'gate' });
    expect(verifySignature(secret, String(waiting[0]!.headers['x-switchyard-signature']), waiting[0]!.body)).toBe(true);

    expect((await h.request('POST', `/v1/runs/${runId}/steps/gate/approve`, {})).status).toBeLessThan(300);
    await h.waitForRun(runId);
    const both = await poll(
      'run.finished delivered too',
      () => receiver.received.slice(at).filter((r) => r.url === '/ws'),
      (r) => r.length >= 2,
      { timeoutMs: 15_000 },
    );
    expect(JSON.parse(both[1]!.body).type).toBe('run.finished');
    expect((await deliveries(id)).map((d) => d.outcome)).toEqual(['delivered', 'delivered']);
    expect(await redisText(h)).not.toContain(secret);

    expect((await h.request('DELETE', `/v1/webhooks/${id}`)).status).toBe(204);
    const again = await h.request('DELETE', `/v1/webhooks/${id}`);
    expect(again.status).toBe(404);
    expect(again.body.error.message).toContain(id);
    expect((await h.request('GET', '/v1/webhooks/nope/deliveries')).status).toBe(422);
  });
});

describe("a schedule's subscription", () => {
  it("is sent the events of that schedule's runs only", async () => {
    const at = receiver.received.length;
    receiver.handle((_req, res) => res.end('ok'));
    const scope = h.system.scope();
    const hook = await h.system.api.webhooks.create(scope, { url: `${receiver.url}/nightly`, events: ['run.finished'], scheduleId: 'nightly' });
    const other = await h.system.api.submissions.submitAgentTask(scope, 'a', { task: 'not scheduled' });
    const nightly = await h.system.api.submissions.submitAgentTask(scope, 'a', { task: 'scheduled' }, { scheduleId: 'nightly' });
    await h.waitForRun(other.id);
    await h.waitForRun(nightly.id);
    const got = await poll(
      "the scheduled run's event",
      () => receiver.received.slice(at).filter((r) => r.url === '/nightly'),
      (r) => r.length >= 1,
      { timeoutMs: 15_000 },
    );
    // Both runs' notices queued (each run's mark is dropped once its notice is), and all sent.
    const marked = (runId: string) => h.system.api.store.redis.zscore(keys.finishNotices(scope), keys.run(scope, runId));
    await poll(
      'both notices queued',
      () => Promise.all([marked(other.id), marked(nightly.id)]),
      (m) => m.every((s) => s === null),
    );
    await webhooksSettled(h.system);
    expect(
      receiver.received
        .slice(at)
        .filter((r) => r.url === '/nightly')
        .map((r) => JSON.parse(r.body).runId),
    ).toEqual([nightly.id]);
    expect(JSON.parse(got[0]!.body).runId).toBe(nightly.id);
    await h.system.api.webhooks.remove(scope, hook.id);
  });
});

describe('a server without SWITCHYARD_SECRETS_KEY', () => {
  it("refuses a run's webhook secret with a 422 naming it, and stores no run; a subscription without a secret is unsigned", async () => {
    const open = await startHarness({ name: 'api-webhooks-nokey', agents: { a: { provider: 'echo' } }, pools: false });
    try {
      const res = await open.request('POST', '/v1/runs', { agent: 'a', input: { task: 'x' }, webhook: { url: `${receiver.url}/x`, secret: SECRET } });
      expect(res.status).toBe(422);
      expect(res.body.error.message).toContain('SWITCHYARD_SECRETS_KEY');
      expect(res.body.error.issues).toEqual([expect.objectContaining({ path: 'webhook.secret' })]);
      expect((await open.request('GET', '/v1/runs')).body.runs).toEqual([]);
      const made = await open.request('POST', '/v1/webhooks', { url: `${receiver.url}/x`, events: ['run.finished'] });
      expect(made.status).toBe(201);
      expect(made.body).toMatchObject({ signed: false });
      expect(made.body.secret).toBeUndefined();
    } finally {
      await open.close();
    }
  });
});

describe('webhooks in production mode', () => {
  it('records a delivery to a host outside SWITCHYARD_EGRESS_ALLOW as refused, never calls it, never retries it', async () => {
    const prod = await startHarness({
      name: 'api-webhooks-prod',
      agents: { a: { provider: 'echo' } },
      env: { NODE_ENV: 'production', SWITCHYARD_EGRESS_ALLOW: 'hooks.example.com', SWITCHYARD_SECRETS_KEY: SECRETS_KEY },
      poolOptions: FAST,
    });
    try {
      const at = receiver.received.length;
      const scope = prod.system.scope();
      // Refused when it is made (a 422 over the API), naming the rule...
      await expect(prod.system.api.webhooks.create(scope, { url: `${receiver.url}/prod`, events: ['run.finished'] })).rejects.toThrow(
        'url: egress refused: host "127.0.0.1" is not in SWITCHYARD_EGRESS_ALLOW',
      );
      // ...and when it is delivered: one made before the allow list was narrowed.
      const made = { id: 'wh_00000000000000aa', url: `${receiver.url}/prod`, events: ['run.finished' as const], createdAt: new Date().toISOString() };
      await new WebhookRecords(prod.system.api.store.redis).put(scope, made);
      const sub = await prod.system.api.submissions.submitAgentTask(prod.system.scope(), 'a', { task: 'x' });
      await prod.waitForRun(sub.id);
      const listed = await poll(
        'the refusal recorded',
        () => prod.system.api.webhooks.deliveries(prod.system.scope(), made.id),
        (d) => d.length >= 1,
        { timeoutMs: 15_000 },
      );
      // Not retried: no attempt of it is left waiting or backing off.
      await webhooksSettled(prod.system);
      const after = await prod.system.api.webhooks.deliveries(prod.system.scope(), made.id);
      expect(after).toHaveLength(1);
      expect(listed[0]).toMatchObject({ outcome: 'refused', attempt: 1, error: expect.stringContaining('SWITCHYARD_EGRESS_ALLOW') });
      expect(receiver.received.slice(at).filter((r) => r.url === '/prod')).toEqual([]);
      await prod.system.api.store.redis.del(keys.webhooks(prod.system.scope()));
    } finally {
      await prod.close();
    }
  });
});
