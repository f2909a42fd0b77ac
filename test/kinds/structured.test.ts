/**
 * A structured answer's check (against the step's output schema, in the process's schema
 * thread) honours the step's timeout and its run's cancel: a check that waits (behind other
 * runs' checks, or a thread that does not answer) never holds the step past either.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { poll } from '../helpers/poll.js';
import { SchemaUnavailableError } from '../../src/lang/schema-checker.js';

const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] };
let h: Harness;
let checks = 0;
let restore: (() => void) | undefined;
/** How the schema thread answers a check (default: never, as when other runs' checks fill its queue). */
let answer: () => Promise<string[]> = () => new Promise<string[]>(() => {});

beforeAll(async () => {
  h = await startHarness({
    name: 'structured-wait',
    agents: {
      quick: { provider: 'echo', attempts: 1, timeoutMs: 400, output: { schema } },
      patient: { provider: 'echo', attempts: 1, output: { schema } },
    },
  });
  const { schemas } = h.system;
  const errors = schemas.errors.bind(schemas);
  schemas.errors = () => {
    checks++;
    return answer();
  };
  restore = () => (schemas.errors = errors);
}, 30_000);
afterEach(() => {
  checks = 0;
  answer = () => new Promise<string[]>(() => {});
});
afterAll(async () => {
  restore?.();
  await h?.close();
  assertAllClosed();
});

const submit = async (agent: string) => (await h.request('POST', '/v1/runs', { agent, input: { task: 'answer' } })).body.id as string;

describe('a structured answer’s check', () => {
  it('ends at the step’s timeout when it waits past it', async () => {
    const run = await h.waitForRun(await submit('quick'), 10_000);
    expect(checks).toBe(1);
    expect(run.status).toBe('failed');
    expect(run.steps[0]!.error).toBe('step timed out after 400 ms');
    await expectNoLiveJobs(h.system, run.id);
  });

  it('is asked again, not the provider, when the schema thread cannot take it now', async () => {
    // Busy twice (its queue full, then its deadline passed), then it answers: the paid answer is checked, once asked for.
    answer = () => (checks <= 2 ? Promise.reject(new SchemaUnavailableError('the schema thread is busy')) : Promise.resolve([]));
    const run = await h.waitForRun(await submit('patient'), 10_000);
    expect(run.status).toBe('succeeded');
    expect(checks).toBe(3);
    expect(run.steps[0]).toMatchObject({ status: 'succeeded', attempts: 1, output: { ok: expect.any(Boolean) } });
  });

  it('ends when its run is cancelled while it waits', async () => {
    const id = await submit('patient');
    await poll(
      'the check asked',
      async () => checks,
      (n) => n === 1,
      { timeoutMs: 10_000 },
    );
    expect((await h.request('POST', `/v1/runs/${id}/cancel`)).status).toBe(200);
    const run = await h.waitForRun(id, 10_000);
    expect(run.status).toBe('cancelled');
    await expectNoLiveJobs(h.system, id);
  });
});
