/**
 * budget.warning through a webhook: a workspace subscribed to it, whose spend envelope passes
 * 80% of its daily tokens during a run, is sent the warning once (the run's id, the envelope,
 * its day and limit), besides the run's own budget.warning event. A run's own budget reaching
 * 80% of a limit (its tokens, as its calls settle; its steps, as they start by the fast path or
 * the engine's decision) is sent once too, signed, with the run's budget.warning event's data.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminalRun } from '../../src/model/run.js';
import { keys } from '../../src/store/keys.js';
import { SIGNATURE_HEADER, verifySignature } from '../../src/webhooks/signature.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, webhooksSettled, type Harness } from '../helpers/harness.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { poll } from '../helpers/poll.js';

/** An answer of about 60 tokens. */
const ANSWER = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
const SECRET = 'whsec_run-budget-warning-test';
const five = (name: string, step: Record<string, unknown> = {}) => ({
  name,
  steps: [{ sequential: Array.from({ length: 5 }, (_, i) => ({ id: `s${i + 1}`, agent: 'gpt', input: { task: `${name} ${i + 1}` }, ...step })) }],
});

let fake: FakeLlmServer;
let receiver: TestServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  fake.respondWith(() => ({ text: ANSWER }));
  receiver = await startTestServer();
  h = await startHarness({
    name: 'webhook-budget',
    fake,
    agents: { gpt: { provider: 'openai', model: 'gpt-4o', attempts: 1, maxTokens: 100 } },
    workflows: [
      { name: 'long', steps: [{ sequential: Array.from({ length: 14 }, (_, i) => ({ id: `s${i + 1}`, agent: 'gpt', input: { task: `part ${i + 1}` } })) }] },
      five('five'),
      // Every step with a `when`: each starts by the engine's decision (not the start script's fast path).
      five('five-when', { when: 'true' }),
    ],
    poolOptions: { webhookBackoffMs: [100] },
    env: { SWITCHYARD_SECRETS_KEY: randomBytes(32).toString('base64') },
  });
}, 30_000);

afterAll(async () => {
  await h?.close();
  await fake?.close();
  await receiver?.close();
  assertAllClosed();
});

describe('a budget.warning subscription', () => {
  it("is sent the envelope's 80% warning once, with the run that passed it", { timeout: 60_000 }, async () => {
    const scope = h.system.scope('acme');
    await h.system.api.store.envelopes.set(scope, undefined, { maxTokensPerDay: 1000 });
    const hook = await h.system.api.webhooks.create(scope, { url: `${receiver.url}/budget`, events: ['budget.warning'] });
    const { id } = await h.system.api.submissions.submitWorkflow(scope, 'long', {});
    await poll(
      'the run to end',
      () => h.system.api.queries.get(scope, id),
      (r) => isTerminalRun(r.status),
      { timeoutMs: 30_000 },
    );
    const got = await poll(
      'the warning delivered',
      () => receiver.received.filter((r) => r.url === '/budget'),
      (r) => r.length >= 1,
      { timeoutMs: 10_000 },
    );
    // The call that passes 80% queues the envelope's notice without waiting for it: a moment for any second one to be queued, then all sent.
    await new Promise((r) => setTimeout(r, 100));
    await webhooksSettled(h.system);
    expect(receiver.received.filter((r) => r.url === '/budget')).toHaveLength(1);
    expect(JSON.parse(got[0]!.body)).toMatchObject({
      type: 'budget.warning',
      runId: id,
      workspace: 'acme',
      data: { envelope: 'workspace acme', maxTokensPerDay: 1000, day: expect.any(String), spent: expect.any(Number) },
    });
    expect((await h.system.api.webhooks.deliveries(scope, hook.id)).map((d) => d.outcome)).toEqual(['delivered']);
    await h.system.api.store.redis.del(keys.webhooks(scope));
  });
});

/**
 * The deliveries `path` was sent, once the run has ended and they have come: a run's warning is
 * queued before the call that reported it returns, so once the queue is drained none is to come.
 */
async function sentTo(path: string, count: number) {
  await poll(
    `${count} deliveries to ${path}`,
    () => receiver.received.filter((r) => r.url === path),
    (r) => r.length >= count,
    { timeoutMs: 10_000 },
  );
  await webhooksSettled(h.system);
  const got = receiver.received.filter((r) => r.url === path);
  for (const r of got) expect(verifySignature(SECRET, String(r.headers[SIGNATURE_HEADER]), r.body)).toBe(true);
  return got.map((r) => JSON.parse(r.body) as Record<string, unknown>);
}

const warningsOf = async (runId: string) =>
  (await h.system.engine.store.events.read(h.system.scope(), runId)).filter((e) => e.type === 'budget.warning').map((e) => e.data);

describe("a run budget's own warning", () => {
  it("is sent to the run's webhook once, signed, when its calls reach 80% of its maxTokens", { timeout: 60_000 }, async () => {
    const webhook = { url: `${receiver.url}/run-tokens`, secret: SECRET, events: ['budget.warning'] };
    const res = await h.request('POST', '/v1/runs', { workflow: 'long', input: {}, budget: { maxTokens: 1000 }, webhook });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id = res.body.id as string;
    await h.waitForRun(id, 30_000);
    const [sent, ...more] = await sentTo('/run-tokens', 1);
    expect(more).toEqual([]);
    const [warning, ...others] = await warningsOf(id);
    expect(others).toEqual([]);
    expect(warning).toEqual({ maxTokens: 1000, spent: expect.any(Number) });
    expect((warning as { spent: number }).spent).toBeGreaterThanOrEqual(800);
    expect(sent).toEqual({
      id: `${id}.budget.warning.run`,
      type: 'budget.warning',
      runId: id,
      workspace: h.system.scope().workspace,
      createdAt: expect.any(String),
      data: warning,
    });
    expect((await h.system.api.webhooks.deliveries(h.system.scope(), `run-${id}`)).map((d) => d.outcome)).toEqual(['delivered']);
  });

  it('is sent to a subscription once when its steps reach 80% of its maxSteps, started by the fast path or decided', { timeout: 60_000 }, async () => {
    const scope = h.system.scope();
    const hook = await h.system.api.webhooks.create(scope, { url: `${receiver.url}/run-steps`, secret: SECRET, events: ['budget.warning'] });
    const ids: string[] = [];
    for (const workflow of ['five', 'five-when']) {
      const { id } = await h.system.api.submissions.submitWorkflow(scope, workflow, {}, { budget: { maxSteps: 5 } });
      expect((await h.waitForRun(id, 30_000)).status).toBe('succeeded');
      expect(await warningsOf(id)).toEqual([{ maxSteps: 5, spent: 4 }]);
      ids.push(id);
    }
    const sent = await sentTo('/run-steps', 2);
    expect(sent.sort((a, b) => ids.indexOf(a.runId as string) - ids.indexOf(b.runId as string))).toEqual(
      ids.map((id) => expect.objectContaining({ id: `${id}.budget.warning.run`, type: 'budget.warning', runId: id, data: { maxSteps: 5, spent: 4 } })),
    );
    expect((await h.system.api.webhooks.deliveries(scope, hook.id)).map((d) => d.outcome)).toEqual(['delivered', 'delivered']);
    await h.system.api.store.redis.del(keys.webhooks(scope));
  });
});
