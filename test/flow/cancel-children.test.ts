/**
 * A step that added steps to its run and ends because the run was cancelled before it could
 * wait for them (a vote that has asked its voters): its job must not be completed while those
 * children are pending. BullMQ refused that ("Job ... has pending dependencies.
 * moveToFinished"), logged at error level, and the job came back on every stall check until the
 * children had ended.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepExecutor } from '../../src/kinds/executor.js';
import { startWorkerPools } from '../../src/engine/pools.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';

/** Every log line at debug and above. */
const lines: { level: number; msg: string; err?: unknown }[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });

/** Resolved by the test once it has cancelled the run: the vote step holds on until then. */
let cancelled!: () => void;
let askedVoters!: () => void;
const voted = new Promise<void>((r) => (askedVoters = r));

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'cancel-children',
    logger,
    agents: { v: { provider: 'echo' }, other: { provider: 'echo' } },
    // No worker for the voters yet: they are still pending when the vote's delivery ends.
    pools: ['other'],
    workflows: [{ name: 'poll', steps: [{ id: 'vote', kind: 'vote', question: { task: 'q?' }, voters: [{ agent: 'v' }, { agent: 'v' }, { agent: 'v' }] }] }],
    poolOptions: {
      executors: (defaults) => ({
        vote: {
          // The real vote: it adds its voters, then (held here until the run is cancelled) it parks.
          async execute(step, ctx) {
            const outcome = await defaults.vote.execute(step, ctx);
            if (outcome.type === 'wait') {
              const held = new Promise<void>((r) => (cancelled = r));
              askedVoters();
              await held;
            }
            return outcome;
          },
        } satisfies StepExecutor<'vote'>,
      }),
    },
  });
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

describe('a run cancelled while a step is about to park for the steps it added', () => {
  it('ends without an error, and leaves no job of the run live', async () => {
    const id = (await h.request('POST', '/v1/runs', { workflow: 'poll', input: {} })).body.id as string;
    await voted;
    // The run ends as a cancel does when the voters' jobs were added just after it looked for
    // them (it removes the queued jobs it finds): here it finds none, leaving them pending.
    expect((await h.system.engine.store.endings.finish(h.system.scope(), id, 'cancelled', { reason: 'run cancelled' })).applied).toBe(true);
    cancelled();
    const run = await h.waitForRun(id);
    expect(run.status).toBe('cancelled');
    // The voters' pool starts: they end (their run is cancelled), and then so does the vote's job.
    const voters = await startWorkerPools(h.system, { agents: ['v'], internal: false });
    try {
      await expectNoLiveJobs(h.system, id, 10_000);
    } finally {
      await voters.close(5_000);
    }
    const complaints = lines.filter((l) => l.level >= 50 || JSON.stringify(l).includes('pending dependencies'));
    expect(complaints).toEqual([]);
  });
});
