/**
 * budget.warning through a webhook: a workspace subscribed to it, whose spend envelope passes
 * 80% of its daily tokens during a run, is sent the warning once (the run's id, the envelope,
 * its day and limit), besides the run's own budget.warning event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminalRun } from '../../src/model/run.js';
import { keys } from '../../src/store/keys.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { poll } from '../helpers/poll.js';

/** An answer of about 60 tokens. */
const ANSWER = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

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
    ],
    poolOptions: { webhookBackoffMs: [100] },
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
    await new Promise((r) => setTimeout(r, 300));
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
