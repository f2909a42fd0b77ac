/**
 * A run's `when` and loop `until` are evaluated with the bounds they were compiled with: an
 * operator who raises SWITCHYARD_MAX_EXPRESSION_DEPTH gets expressions that compile and also
 * run (they were parsed again at run time with the default bounds, and failed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ name: 'expr-limits', agents: { a: { provider: 'echo' } }, env: { SWITCHYARD_MAX_EXPRESSION_DEPTH: '200' } });
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

describe('expressions deeper than the default bound, within the configured one', () => {
  it('compile, and run: a 100-term && chain decides its step', async () => {
    const chain = Array.from({ length: 100 }, () => 'input.go == true').join(' && ');
    const workflow = {
      name: 'deep-when',
      input: { go: { type: 'boolean' } },
      steps: [
        { id: 'first', agent: 'a', input: { task: 'x' } },
        { id: 'gated', agent: 'a', dependsOn: ['first'], input: { task: 'y' }, when: chain },
      ],
    };
    const ran = await h.request('POST', '/v1/runs', { workflow, input: { go: true } });
    expect(ran.status, JSON.stringify(ran.body)).toBe(202);
    const skipped = await h.request('POST', '/v1/runs', { workflow, input: { go: false } });
    expect(skipped.status).toBe(202);
    const [yes, no] = await Promise.all([h.waitForRun(ran.body.id), h.waitForRun(skipped.body.id)]);
    expect(yes.status, JSON.stringify(yes.steps.map((s) => [s.stepId, s.status, s.error]))).toBe('succeeded');
    expect(yes.steps.find((s) => s.stepId === 'gated')!.status).toBe('succeeded');
    expect(no.steps.find((s) => s.stepId === 'gated')!.status).toBe('skipped');
  });
});
