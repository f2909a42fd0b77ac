/**
 * An http step whose worker process is killed (SIGKILL) while its request is in flight: the
 * step is delivered again to another worker, which sends the request again with the same
 * `Idempotency-Key: <run>.<step>` (so a service that honours it acts once), and its answer,
 * recorded once, feeds the next step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerPools } from '../../src/engine/pools.js';
import type { RunView } from '../../src/query/run-view.js';
import { json, startTestServer, type TestServer } from '../helpers/http-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { killAllWorkerProcesses, startWorkerProcess } from '../helpers/worker-process.js';

/** Lock and stalled-check timing short enough to see a lost worker within a few seconds. */
const STALLED = { lockDuration: 1000, stalledInterval: 500 };
const AGENTS = { writer: { provider: 'echo' } };

let server: TestServer;
let h: Harness;

beforeAll(async () => {
  server = await startTestServer();
  h = await startHarness({ name: 'http-step-crash', agents: AGENTS, pools: false });
});

afterAll(async () => {
  await killAllWorkerProcesses();
  await h?.close();
  await server?.close();
  assertAllClosed();
}, 30_000);

describe('an http step whose worker is killed while its request is in flight', () => {
  it('is sent again by the next worker with the same Idempotency-Key, and its answer feeds the next step', { timeout: 90_000 }, async () => {
    // The first request is never answered (its worker dies meanwhile); later ones are.
    server.handle((_req, res, nth) => {
      if (nth > 1) json(res, 200, { delivery: nth });
    });
    const worker = await startWorkerProcess({ prefix: h.prefix, agents: AGENTS, stalled: STALLED });
    const { id } = await h.system.api.submissions.submitWorkflow(
      h.system.scope(),
      {
        name: 'notify-then-write',
        steps: [
          { id: 'notify', kind: 'http', method: 'POST', url: `${server.url}/hook`, body: { event: 'done' } },
          { id: 'write', agent: 'writer', dependsOn: ['notify'], input: { task: 'Delivery {{ steps.notify.output.delivery }} confirmed' } },
        ],
      },
      {},
    );
    await poll(
      'the first request to reach the server',
      () => Promise.resolve(server.received.length),
      (n) => n >= 1,
      // A bound for a busy machine: it returns as soon as the request is there.
      { timeoutMs: 40_000 },
    );
    await worker.kill();

    const pools = await startWorkerPools(h.system, { stalled: STALLED });
    let view: RunView;
    try {
      view = await h.waitForRun(id, 40_000);
    } finally {
      await pools.close(5_000);
    }
    expect(view.status, JSON.stringify(view.steps.map((s) => [s.stepId, s.status, s.error]))).toBe('succeeded');
    expect(server.received.map((r) => [r.method, r.url, r.headers['idempotency-key'], r.body])).toEqual([
      ['POST', '/hook', `${id}.notify`, '{"event":"done"}'],
      ['POST', '/hook', `${id}.notify`, '{"event":"done"}'],
    ]);
    const notify = view.steps.find((s) => s.stepId === 'notify')!;
    expect(notify).toMatchObject({ status: 'succeeded', attempts: 2, output: { delivery: 2 } });
    expect((view.steps.find((s) => s.stepId === 'write')!.input as { task: string }).task).toBe('Delivery 2 confirmed');
    const completed = (await h.system.engine.store.events.read(h.system.scope(), id)).filter((e) => e.stepId === 'notify' && e.type === 'step.completed');
    expect(completed).toHaveLength(1);
    await expectNoLiveJobs(h.system, id);
  });
});
