/**
 * Switchyard against the simulator, end to end: agents whose baseURL points at it run, and
 * Switchyard's limiter reads the rate-limit headers of its answers (x-ratelimit-* for OpenAI,
 * anthropic-ratelimit-* for Anthropic): once they say a model's requests are spent, the next
 * step waits for the window instead of being refused with a 429.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let sim: Simulator;
let h: Harness;
beforeAll(async () => {
  // One request a minute per model: the first answer's headers say none is left.
  sim = await startSimulator({ port: 0, rpm: 1, seed: 3 });
  h = await startHarness({
    name: 'simulator',
    agents: {
      oa: { provider: 'openai', model: 'gpt-sim', attempts: 2 },
      an: { provider: 'anthropic', model: 'claude-sim', attempts: 2 },
    },
    env: { OPENAI_API_KEY: 'sk-sim', OPENAI_BASE_URL: sim.openaiBaseURL, ANTHROPIC_API_KEY: 'sk-ant-sim', ANTHROPIC_BASE_URL: sim.anthropicBaseURL },
  });
});
afterAll(async () => {
  await h?.close();
  await sim?.close();
  assertAllClosed();
});

const submit = async (agent: string, task: string) => (await h.request('POST', '/v1/runs', { agent, input: { task } })).body.id as string;

it('runs agents on the simulator, and holds a model back when its rate-limit headers say it is spent', async () => {
  const first = await Promise.all([submit('oa', 'first'), submit('an', 'first')].map(async (id) => h.waitForRun(await id)));
  expect(first.map((r) => [r.status, r.steps[0]!.model])).toEqual([
    ['succeeded', 'gpt-sim'],
    ['succeeded', 'claude-sim'],
  ]);
  expect(first[0]!.usage.outputTokens).toBeGreaterThan(0);

  const next = await Promise.all([submit('oa', 'second'), submit('an', 'second')]);
  const waiting = await Promise.all(next.map((id) => h.waitUntil(id, (r) => r.steps[0]!.waitingFor?.reason === 'provider_capacity')));
  expect(waiting.map((r) => r.steps[0]!.waitingFor)).toMatchObject([
    { reason: 'provider_capacity', detail: 'openai/gpt-sim paused' },
    { reason: 'provider_capacity', detail: 'anthropic/claude-sim paused' },
  ]);
  expect(waiting.map((r) => r.steps[0]!.attempts)).toEqual([0, 0]);
  // The simulator saw only the two first calls: Switchyard held the others back before a 429.
  expect(sim.stats()).toMatchObject({ requests: 2, answered: 2, errors: {} });

  for (const id of next) expect((await h.request('POST', `/v1/runs/${id}/cancel`)).status).toBeLessThan(300);
  expect((await Promise.all(next.map((id) => h.waitForRun(id)))).map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
});
