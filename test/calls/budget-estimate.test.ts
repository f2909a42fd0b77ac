/**
 * A run budget holds against text that is not English: each call's reservation is its prompt
 * counted by the model's own tokenizer (OpenAI models) or a conservative bound (others), so a
 * fan-out of CJK prompts, about one token a character, cannot spend past `maxCostUsd` by the
 * width of the fan-out. The fake server counts as the real models do: OpenAI models with their
 * tokenizer (o200k_base for gpt-4o), the others one token a CJK character.
 */
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view.js';
import { startFakeLlmServer, tokens, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';

let fake: FakeLlmServer;
let h: Harness;

const WIDTH = 7;
/** About 1,500 characters of Japanese prose (o200k_base: about 0.8 tokens a character). */
const CJK = '東京は日本の首都であり、多くの人々が住んでいます。春には桜が咲き、秋には紅葉が美しい。'.repeat(36);
const fanOut = (name: string, agent: string) => ({
  name,
  steps: [{ parallel: Array.from({ length: WIDTH }, (_, i) => ({ id: `p${i}`, agent, input: { task: `${i}: ${CJK}` } })) }],
});

beforeAll(async () => {
  fake = await startFakeLlmServer({
    tokens: (text, model) => (model.startsWith('gpt-') ? Math.max(1, o200k(text, { disallowedSpecial: new Set() })) : tokens(text)),
  });
  h = await startHarness({
    name: 'budget-estimate',
    fake,
    agents: {
      gpt: { provider: 'openai', model: 'gpt-4o', attempts: 1, maxTokens: 16, concurrency: WIDTH },
      claude: { provider: 'anthropic', model: 'claude-sonnet-4-6', attempts: 1, maxTokens: 16, concurrency: WIDTH },
    },
    workflows: [fanOut('cjk-gpt', 'gpt'), fanOut('cjk-claude', 'claude')],
  });
}, 30_000);

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

async function run(body: Record<string, unknown>): Promise<RunView> {
  const res = await h.request('POST', '/v1/runs', body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return h.waitForRun(res.body.id, 30_000);
}

describe('a cost budget over a fan-out of CJK prompts', () => {
  // gpt-4o at $2.50/$10 per million: each call's prompt is about 1,200 tokens (about $0.003);
  // claude-sonnet-4-6 at $3/$15: about 1,500 tokens (about $0.0045). A limit of about three calls each.
  for (const [workflow, maxCostUsd] of [
    ['cjk-gpt', 0.01],
    ['cjk-claude', 0.014],
  ] as const) {
    it(`${workflow}: ends within maxCostUsd ${maxCostUsd} (the estimates are not below what the calls cost)`, async () => {
      fake.reset();
      // Every call of the fan-out is in flight at once unless the budget holds it back.
      fake.respondWith((req) => (req.prompt.includes('東京') ? { text: 'ok', delayMs: 300 } : undefined));
      const r = await run({ workflow, input: {}, budget: { maxCostUsd } });
      const answered = fake.requests.filter((q) => q.answered);
      const spent = r.usage.costUsd ?? 0;
      // The limit is a few calls: the fan-out does not fit, and what ran stayed within it.
      expect(r.status, r.error ?? '').toBe('budget_exceeded');
      expect(answered.length).toBeGreaterThan(0);
      expect(answered.length).toBeLessThan(WIDTH);
      expect(spent).toBeGreaterThan(0);
      expect(spent, `spent $${spent} of $${maxCostUsd} in ${answered.length} calls`).toBeLessThanOrEqual(maxCostUsd);
      await expectNoLiveJobs(h.system, r.id);
    });
  }
});
