/**
 * "Why is it waiting?": GET /v1/runs/:id says, for every step that is not running, what it
 * waits for: its dependencies, the steps it added, an agent no live worker serves, a spent
 * rate limit, a provider's pause after a 429, a retry backoff (with when each ends), or just a
 * free worker slot. /readyz names agents no live worker serves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerPools } from '../../src/engine/pools.js';
import { explainWaiting } from '../../src/query/waiting.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { unique } from '../helpers/redis.js';
import { stepRecord } from '../helpers/records.js';

describe('explainWaiting', () => {
  const now = Date.parse('2026-01-01T00:00:00.000Z');
  const facts = (served: string[], limits: [string, number][] = []) => ({ served: new Set(served), rateLimitMs: new Map(limits), now });

  it('says what each step that is not running waits for', () => {
    const steps = [
      stepRecord('done', 'succeeded'),
      stepRecord('next', 'pending', { dependsOn: ['done', 'busy'] }),
      stepRecord('busy', 'running'),
      stepRecord('ready', 'pending', { dependsOn: ['done'] }),
      stepRecord('later', 'retrying', { retryAt: '2026-01-01T00:00:05.000Z' }),
      stepRecord('paused', 'retrying', { agent: 'b' }),
      stepRecord('parent', 'waiting'),
      stepRecord('parent.1', 'running', { parent: 'parent' }),
      stepRecord('parent.2', 'succeeded', { parent: 'parent' }),
      stepRecord('orphan', 'pending', { agent: 'nobody' }),
    ];
    const why = explainWaiting(steps, facts(['agent.a', 'agent.b'], [['agent.b', 3000]]));
    expect(Object.fromEntries(why)).toEqual({
      next: { reason: 'dependencies', steps: ['busy'] },
      ready: { reason: 'worker_slot', queue: 'agent.a' },
      later: { reason: 'retry_backoff', until: '2026-01-01T00:00:05.000Z' },
      paused: { reason: 'provider_pause', queue: 'agent.b', until: '2026-01-01T00:00:03.000Z' },
      parent: { reason: 'children', steps: ['parent.1'] },
      orphan: { reason: 'no_worker', queue: 'agent.nobody', agent: 'nobody' },
    });
    expect(Object.fromEntries(explainWaiting([stepRecord('x', 'pending')], facts(['agent.a'], [['agent.a', 1500]])))).toEqual({
      x: { reason: 'rate_limit', queue: 'agent.a', until: '2026-01-01T00:00:01.500Z' },
    });
  });
});

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'waiting',
    fake,
    pools: false,
    agents: {
      slow: { provider: 'echo', echo: { latencyMs: 600 } },
      limited: { provider: 'echo', rateLimit: { max: 1, durationMs: 10_000 } },
      flaky: { provider: 'openai', model: 'gpt-test', attempts: 2, backoff: { type: 'fixed', delayMs: 4_000 } },
      unserved: { provider: 'echo' },
    },
    workflows: [
      {
        name: 'pair',
        steps: [
          {
            sequential: [
              { id: 'first', agent: 'slow', input: { task: 'one' } },
              { id: 'second', agent: 'slow', input: { task: 'two' } },
            ],
          },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

const submit = async (body: Record<string, unknown>) => (await h.request('POST', '/v1/runs', body)).body.id as string;
const waitingOf = async (id: string, stepId: string) =>
  (await h.request('GET', `/v1/runs/${id}`)).body.steps.find((s: { stepId: string }) => s.stepId === stepId)?.waitingFor;

describe('GET /v1/runs/:id', () => {
  it('names an agent no live worker serves, and /readyz lists it', async () => {
    const pools = await startWorkerPools(h.system, { agents: ['slow', 'limited', 'flaky'] });
    try {
      const id = await submit({ agent: 'unserved', input: { task: 'x' } });
      expect(await waitingOf(id, 'unserved')).toEqual({ reason: 'no_worker', queue: 'agent.unserved', agent: 'unserved' });
      const ready = await h.request('GET', '/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body.unservedAgents).toEqual(['unserved']);
      await h.request('POST', `/v1/runs/${id}/cancel`);
    } finally {
      await pools.close();
    }
  });

  it("says a step waits for its dependencies, then for its agent's rate limit, with when it reopens", async () => {
    const pools = await startWorkerPools(h.system, { agents: ['slow', 'limited', 'flaky'] });
    try {
      const chain = await submit({ workflow: 'pair', input: {} });
      await h.waitUntil(chain, (r) => r.steps[0]!.status === 'running');
      expect(await waitingOf(chain, 'second')).toEqual({ reason: 'dependencies', steps: ['first'] });

      const one = await submit({ agent: 'limited', input: { task: unique('first') } });
      await h.waitForRun(one);
      const two = await submit({ agent: 'limited', input: { task: unique('second') } });
      // The agent's rateLimit is held by the shared limiter: the step waits for it, delayed.
      await h.waitUntil(two, (r) => r.steps[0]!.status === 'retrying');
      const why = await waitingOf(two, 'limited');
      expect(why).toMatchObject({ reason: 'provider_capacity', detail: '@limited rateLimit' });
      expect(Date.parse(why.until)).toBeGreaterThan(Date.now());
      // Within the window (10 s), plus the up to 20% a wait is spread by.
      expect(Date.parse(why.until)).toBeLessThanOrEqual(Date.now() + 12_000);
      await h.request('POST', `/v1/runs/${two}/cancel`);
      await h.waitForRun(chain);
    } finally {
      await pools.close();
    }
  });

  it("says a step waits out a retry backoff until its next attempt, and a provider's pause after a 429", async () => {
    const pools = await startWorkerPools(h.system, { agents: ['slow', 'limited', 'flaky'] });
    try {
      const retry = await submit({ agent: 'flaky', input: { task: `${unique('retry')} [[fail-first:1:500]]` } });
      await h.waitUntil(retry, (r) => r.steps[0]!.status === 'retrying');
      const backoff = await waitingOf(retry, 'flaky');
      expect(backoff.reason).toBe('retry_backoff');
      expect(Date.parse(backoff.until) - Date.now()).toBeGreaterThan(2_000);
      const run = (await h.request('GET', `/v1/runs/${retry}`)).body;
      expect(run.steps[0].retryAt).toBe(backoff.until);
      await h.request('POST', `/v1/runs/${retry}/cancel`);

      const paused = await submit({ agent: 'flaky', input: { task: `${unique('pause')} [[fail-first:1:429]] [[retry-after:5]]` } });
      await h.waitUntil(paused, (r) => r.steps[0]!.status === 'retrying');
      const pause = await waitingOf(paused, 'flaky');
      expect(pause).toMatchObject({ reason: 'provider_pause', queue: 'agent.flaky' });
      expect(Date.parse(pause.until) - Date.now()).toBeGreaterThan(3_000);
      await h.request('POST', `/v1/runs/${paused}/cancel`);
    } finally {
      await pools.close();
    }
  });
});
