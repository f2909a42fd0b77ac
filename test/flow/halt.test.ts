/**
 * A run that ends early takes its queued step jobs out of their queues: they neither wait in
 * an agent's queue nor drain through its rate limit ahead of other runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentQueueName } from '../../src/store/keys.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';

let h: Harness;
const WIDTH = 200;

beforeAll(async () => {
  h = await startHarness({
    name: 'halt',
    agents: {
      // One step at a time, at most 2 started per second: a queue that drains slowly.
      narrow: { provider: 'echo', echo: { latencyMs: 150 }, concurrency: 1, rateLimit: { max: 2, durationMs: 1000 }, attempts: 1 },
      fails: { provider: 'openai', model: 'gpt-test', baseURL: 'http://127.0.0.1:1/v1', attempts: 1 },
    },
    workflows: [
      {
        name: 'wide',
        steps: [
          {
            sequential: [
              { parallel: Array.from({ length: WIDTH }, (_, i) => ({ id: `w${i}`, agent: 'narrow', input: { task: `part ${i}` } })) },
              { id: 'join', agent: 'narrow', input: { task: 'join' } },
            ],
          },
        ],
      },
      {
        name: 'wide-failing',
        steps: [
          {
            parallel: [
              { id: 'boom', agent: 'fails', input: { task: 'x' } },
              ...Array.from({ length: 50 }, (_, i) => ({ id: `w${i}`, agent: 'narrow', input: { task: `part ${i}` } })),
            ],
          },
        ],
      },
      { name: 'small', steps: [{ id: 'one', agent: 'narrow', input: { task: 'small' } }] },
    ],
  });
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

/** Jobs of `runId` waiting in the narrow agent's queue. */
async function queuedOf(runId: string): Promise<number> {
  const jobs = await h.system.queue(agentQueueName('narrow')).getJobs(['waiting', 'delayed', 'prioritized'], 0, -1);
  return jobs.filter((j) => j?.id?.startsWith(`${runId}.`)).length;
}

describe('a run that ends early', () => {
  it('on cancel, leaves none of its jobs in the queue, and another run on the agent starts at once', async () => {
    const id = (await h.request('POST', '/v1/runs', { workflow: 'wide', input: {} })).body.id as string;
    await h.waitUntil(id, (r) => r.steps.some((s) => s.status === 'running'));
    expect(await queuedOf(id)).toBeGreaterThan(WIDTH / 2);
    expect((await h.request('POST', `/v1/runs/${id}/cancel`)).status).toBe(200);
    await poll(
      'the cancelled run leaves the queue',
      () => queuedOf(id),
      (n) => n === 0,
      { timeoutMs: 2_000 },
    );

    // With 199 jobs draining at 2 per second ahead of it, this would wait for minutes.
    const other = (await h.request('POST', '/v1/runs', { workflow: 'small', input: {} })).body.id as string;
    const run = await h.waitForRun(other, 5_000);
    expect(run.status).toBe('succeeded');
    await expectNoLiveJobs(h.system, id, 10_000);
    expect((await h.system.api.queries.get(h.system.scope(), id)).status).toBe('cancelled');
  });

  it('on a required failure, takes its queued jobs out too', async () => {
    const id = (await h.request('POST', '/v1/runs', { workflow: 'wide-failing', input: {} })).body.id as string;
    const run = await h.waitForRun(id, 10_000);
    expect(run.status).toBe('failed');
    await poll(
      'the failed run leaves the queue',
      () => queuedOf(id),
      (n) => n === 0,
      { timeoutMs: 2_000 },
    );
    expect(run.steps.filter((s) => s.status === 'succeeded').length).toBeLessThan(10);
    await expectNoLiveJobs(h.system, id, 10_000);
  });
});
