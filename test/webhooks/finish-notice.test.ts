/**
 * run.finished at least once: a run a webhook takes the finish of is marked before it exists
 * (its own webhook, or a subscription of its workspace for its schedule); a finish whose
 * notice was never queued (the finish written without this process's listener, as when the
 * process is killed between the two) is noticed by the sweep, delivered exactly once; a run
 * finished normally is unmarked and delivered once, even when its mark is left (killed before
 * unmarking: the sweep's queueing is deduped by the event id); a run still running keeps its mark.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finishRun } from '../../src/flow/finish-run.js';
import { keys } from '../../src/store/keys.js';
import { RunStore } from '../../src/store/run-store.js';
import type { Scope } from '../../src/store/scope.js';
import { assertAllClosed, startHarness, webhooksSettled, type Harness } from '../helpers/harness.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { poll } from '../helpers/poll.js';

const GATED = {
  name: 'gated',
  steps: [
    { id: 'draft', agent: 'a', input: { task: 'draft' } },
    { id: 'gate', kind: 'approval', dependsOn: ['draft'], input: { task: 'Approve the draft' } },
  ],
};
const SWEEP = { everyMs: 100, graceMs: 60_000, noticeGraceMs: 400 };

let h: Harness;
let receiver: TestServer;
let scope: Scope;

beforeAll(async () => {
  receiver = await startTestServer();
  h = await startHarness({
    name: 'finish-notice',
    agents: { a: { provider: 'echo' } },
    workflows: [GATED],
    poolOptions: { webhookBackoffMs: [100], sweep: SWEEP },
  });
  scope = h.system.scope();
});

afterAll(async () => {
  await h?.close();
  await receiver?.close();
  assertAllClosed();
});

const mark = (runId: string) => h.system.api.store.redis.zscore(keys.finishNotices(scope), keys.run(scope, runId));
const sentTo = (path: string) => receiver.received.filter((r) => r.url === path);

/** A gated run with its own webhook to `path`, waiting at its approval. */
async function waitingRun(path: string): Promise<string> {
  const sub = await h.request('POST', '/v1/runs', { workflow: 'gated', input: {}, webhook: { url: `${receiver.url}${path}` } });
  expect(sub.status).toBe(202);
  const runId = sub.body.id as string;
  await h.waitUntil(runId, (r) => r.steps.some((s) => s.stepId === 'gate' && s.status === 'waiting'));
  return runId;
}

describe('a run.finished notice', () => {
  it('whose finisher never queued it (the finish written without the listener) is delivered once by the sweep', { timeout: 30_000 }, async () => {
    const runId = await waitingRun('/crashed');
    expect(await mark(runId)).not.toBeNull();
    // The finish a killed process applied: the same script, no listener told.
    const bare = new RunStore({ redis: h.system.engine.store.redis, retentionSeconds: 600, outbox: false });
    const res = await finishRun({ store: bare, control: h.system.engine.control }, scope, runId, { how: 'halt', status: 'cancelled', reason: 'cut short' });
    expect(res.applied).toBe(true);
    expect(await mark(runId)).not.toBeNull();
    const got = await poll(
      'the sweep to deliver the notice',
      () => sentTo('/crashed'),
      (r) => r.length >= 1,
      { timeoutMs: 15_000 },
    );
    expect(JSON.parse(got[0]!.body)).toMatchObject({ id: `${runId}.run.finished`, type: 'run.finished', runId, data: { status: 'cancelled' } });
    await poll(
      'the mark removed',
      () => mark(runId),
      (s) => s === null,
      { timeoutMs: 5_000 },
    );
    // Unmarked, the run is not the sweep's any longer: once what was queued is sent, nothing more comes.
    await webhooksSettled(h.system);
    expect(sentTo('/crashed')).toHaveLength(1);
  });

  it(
    'of a run finished normally is delivered once and its mark removed; a mark left behind is swept without a second delivery',
    { timeout: 30_000 },
    async () => {
      const sub = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'hello' }, webhook: { url: `${receiver.url}/normal` } });
      expect(sub.status).toBe(202);
      const runId = sub.body.id as string;
      await h.waitForRun(runId);
      await poll(
        'the notice delivered',
        () => sentTo('/normal'),
        (r) => r.length >= 1,
        { timeoutMs: 10_000 },
      );
      expect(await mark(runId)).toBeNull();
      // Killed after queueing but before unmarking: the sweep queues the same event again, deduped by its job id.
      await h.system.api.store.redis.zadd(keys.finishNotices(scope), Date.now(), keys.run(scope, runId));
      await poll(
        'the mark swept',
        () => mark(runId),
        (s) => s === null,
        { timeoutMs: 10_000 },
      );
      // The sweep's queueing (made before it unmarked) is sent by now, if it was queued at all.
      await webhooksSettled(h.system);
      expect(sentTo('/normal')).toHaveLength(1);
      expect(JSON.parse(sentTo('/normal')[0]!.body)).toMatchObject({ id: `${runId}.run.finished`, data: { status: 'succeeded' } });
    },
  );

  it('of a run still running is kept (looked at again later), then delivered once it ends', { timeout: 30_000 }, async () => {
    const runId = await waitingRun('/running');
    const first = Number(await mark(runId));
    await poll(
      'the mark looked at again',
      () => mark(runId),
      (s) => s !== null && Number(s) > first,
      { timeoutMs: 10_000 },
    );
    expect(sentTo('/running')).toHaveLength(0);
    expect((await h.request('POST', `/v1/runs/${runId}/cancel`, {})).status).toBeLessThan(300);
    await poll(
      'the notice delivered',
      () => sentTo('/running'),
      (r) => r.length >= 1,
      { timeoutMs: 10_000 },
    );
    await poll(
      'the mark removed',
      () => mark(runId),
      (s) => s === null,
      { timeoutMs: 5_000 },
    );
    expect(sentTo('/running')).toHaveLength(1);
  });

  it("is awaited for a subscription's runs only (its schedule's), and a workspace without one marks nothing", { timeout: 30_000 }, async () => {
    const { submissions, webhooks } = h.system.api;
    const plain = await submissions.submitWorkflow(scope, 'gated', {});
    expect(await mark(plain.id)).toBeNull();
    const hook = await webhooks.create(scope, { url: `${receiver.url}/nightly`, events: ['run.finished'], scheduleId: 'nightly' });
    const other = await submissions.submitWorkflow(scope, 'gated', {});
    const nightly = await submissions.submitWorkflow(scope, 'gated', {}, { scheduleId: 'nightly' });
    expect(await mark(other.id)).toBeNull();
    expect(await mark(nightly.id)).not.toBeNull();
    for (const id of [plain.id, other.id, nightly.id]) await h.system.api.actions.cancel(scope, id);
    await poll(
      'the notice delivered',
      () => sentTo('/nightly'),
      (r) => r.length >= 1,
      { timeoutMs: 10_000 },
    );
    await poll(
      'the mark removed',
      () => mark(nightly.id),
      (s) => s === null,
      { timeoutMs: 5_000 },
    );
    expect(sentTo('/nightly').map((r) => (JSON.parse(r.body) as { runId: string }).runId)).toEqual([nightly.id]);
    await webhooks.remove(scope, hook.id);
  });

  it('of a run submitted before its workspace subscribed is sent to the subscription (the finishing write sees it)', { timeout: 30_000 }, async () => {
    const { submissions, webhooks } = h.system.api;
    const before = await submissions.submitWorkflow(scope, 'gated', {});
    expect(await mark(before.id)).toBeNull();
    const hook = await webhooks.create(scope, { url: `${receiver.url}/later`, events: ['run.finished'] });
    await h.system.api.actions.cancel(scope, before.id);
    const got = await poll(
      'the notice delivered',
      () => sentTo('/later'),
      (r) => r.length >= 1,
      { timeoutMs: 10_000 },
    );
    expect(JSON.parse(got[0]!.body)).toMatchObject({ id: `${before.id}.run.finished`, runId: before.id, data: { status: 'cancelled' } });
    await webhooks.remove(scope, hook.id);
  });
});
