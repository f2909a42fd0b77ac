/**
 * A webhook delivery whose worker process is killed (SIGKILL) while its POST is in flight: the
 * delivery job is taken over by another worker and sent again with the same event id (at least
 * once: the receiver deduplicates on it), and the attempt that answered is recorded once.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerPools } from '../../src/engine/pools.js';
import { verifySignature } from '../../src/webhooks/signature.js';
import { json, startTestServer, type TestServer } from '../helpers/http-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { killAllWorkerProcesses, startWorkerProcess } from '../helpers/worker-process.js';

/** Lock and stalled-check timing short enough to see a lost worker within a few seconds. */
const STALLED = { lockDuration: 1000, stalledInterval: 500 };
const AGENTS = { a: { provider: 'echo' } };
const SECRETS_KEY = randomBytes(32).toString('base64');

let server: TestServer;
let h: Harness;

beforeAll(async () => {
  server = await startTestServer();
  h = await startHarness({ name: 'webhook-crash', agents: AGENTS, pools: false, env: { SWITCHYARD_SECRETS_KEY: SECRETS_KEY } });
});

afterAll(async () => {
  await killAllWorkerProcesses();
  await h?.close();
  await server?.close();
  assertAllClosed();
}, 30_000);

describe('a webhook delivery whose worker is killed while its POST is in flight', () => {
  it('is sent again by the next worker with the same event id and signature secret, and recorded once delivered', { timeout: 90_000 }, async () => {
    // The first POST is never answered (its worker dies meanwhile); later ones are.
    server.handle((_req, res, nth) => {
      if (nth > 1) json(res, 200, { ok: true });
    });
    const scope = h.system.scope();
    const hook = await h.system.api.webhooks.create(scope, { url: `${server.url}/hook`, events: ['run.finished'] });
    const worker = await startWorkerProcess({ prefix: h.prefix, agents: AGENTS, stalled: STALLED, secretsKey: SECRETS_KEY });
    const { id: runId } = await h.system.api.submissions.submitAgentTask(scope, 'a', { task: 'hello' });
    await poll(
      'the first POST to reach the receiver',
      () => Promise.resolve(server.received.length),
      (n) => n >= 1,
      // A bound for a busy machine: it returns as soon as the request is there.
      { timeoutMs: 40_000 },
    );
    await worker.kill();

    const pools = await startWorkerPools(h.system, { stalled: STALLED, webhookBackoffMs: [100] });
    try {
      await poll(
        'the delivery sent again',
        () => Promise.resolve(server.received.length),
        (n) => n >= 2,
        { timeoutMs: 40_000 },
      );
      await poll(
        'the delivery recorded',
        () => h.system.api.webhooks.deliveries(scope, hook.id),
        (d) => d.length >= 1,
      );
    } finally {
      await pools.close(5_000);
    }
    const ids = server.received.map((r) => (JSON.parse(r.body) as { id: string }).id);
    expect(ids).toEqual([`${runId}.run.finished`, `${runId}.run.finished`]);
    for (const r of server.received) expect(verifySignature(hook.secret!, String(r.headers['x-switchyard-signature']), r.body)).toBe(true);
    const recorded = await h.system.api.webhooks.deliveries(scope, hook.id);
    expect(recorded.map((d) => [d.outcome, d.httpStatus, d.eventId])).toEqual([['delivered', 200, `${runId}.run.finished`]]);
  });
});
