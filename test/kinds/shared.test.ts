/** What the step kinds share (src/kinds/shared/), and the lists that tie every kind to its rule and executor. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BOUNDS } from '../../src/config/env.js';
import { NonRetryableError } from '../../src/errors/index.js';
import { STEP_KINDS } from '../../src/model/step-kind.js';
import { COMPILED_STEPS, STEP_DEFINITIONS } from '../../src/kinds/definition.js';
import { KIND_RULES } from '../../src/kinds/rules.js';
import { readsOfOrDeps } from '../../src/kinds/compile-rule.js';
import { createExecutors } from '../../src/kinds/index.js';
import { maxAgreeing, normaliseAnswer } from '../../src/kinds/shared/agreement.js';
import { assertWithinPrompt, renderFor, templateScope } from '../../src/kinds/shared/scope.js';
import { tally, type Vote } from '../../src/kinds/vote/tally.js';
import { thrownBy } from '../helpers/errors.js';
import type { Provider } from '../../src/calls/provider.js';

describe('the kinds', () => {
  it('each have a definition schema, a compiled schema, a compile rule and an executor', () => {
    const executors = createExecutors({
      providerFor: () => ({}) as Provider,
      compilePlan: () => {
        throw new Error('not compiled here');
      },
      outbound: () => Promise.reject(new Error('not called here')),
    });
    for (const map of [STEP_DEFINITIONS, COMPILED_STEPS, KIND_RULES, executors]) expect(Object.keys(map).sort()).toEqual([...STEP_KINDS].sort());
  });

  it('an aggregation reads its `of`, or else its dependencies, each at its own path', () => {
    expect(readsOfOrDeps({ of: ['a', 'b'], dependsOn: ['c'] })).toEqual([
      { at: 'of[0]', stepId: 'a' },
      { at: 'of[1]', stepId: 'b' },
    ]);
    expect(readsOfOrDeps({ dependsOn: ['c'] })).toEqual([{ at: 'dependsOn[0]', stepId: 'c' }]);
  });
});

describe('agreement', () => {
  it('takes texts that differ in case, spacing and punctuation as one answer', () => {
    expect(normaliseAnswer('  Yes, it IS. ')).toBe('yes it is');
    expect(maxAgreeing(['Yes.', ' yes', 'No'], undefined)).toBe(2);
  });

  it('compares a field of structured answers, numbers within the tolerance', () => {
    const answers = [{ price: 10 }, { price: 10.4 }, { price: 12 }];
    expect(maxAgreeing(answers, { field: 'price', numberTolerance: 0.5 })).toBe(2);
    expect(maxAgreeing(answers, { field: 'price' })).toBe(1);
    expect(maxAgreeing([], undefined)).toBe(0);
  });
});

describe('tally', () => {
  const vote = (step: string, answer: unknown, weight: number): Vote => ({ step, agent: step, answer, confidence: weight, rationale: '', weight });

  it('finds consensus when the winning group holds at least minAgreement of the weight', () => {
    const result = tally([vote('a', 'Yes', 0.9), vote('b', 'yes.', 0.6), vote('c', 'no', 0.5)], { minAgreement: 0.6 });
    expect(result).toMatchObject({ consensus: true, winningResult: 'Yes', minAgreement: 0.6 });
    expect(result.agreement).toBeCloseTo(0.75);
    expect(result.groups.map((g) => g.steps)).toEqual([['a', 'b'], ['c']]);
  });

  it('has no winner on a tie, and weighs numeric answers into a score', () => {
    const tie = tally([vote('a', 1, 0.5), vote('b', 3, 0.5)], { minAgreement: 0.5 });
    expect(tie).toMatchObject({ consensus: false, winningResult: null, agreement: 0.5, weightedScore: 2 });
  });
});

describe('scope', () => {
  const ctx = {
    runInput: { topic: 'tides' },
    reads: [{ stepId: 'a', status: 'succeeded' as const, optional: false, output: 'draft' }],
    context: {},
    bounds: DEFAULT_BOUNDS,
  };

  it('renders over the run input and the steps read', () => {
    expect(renderFor({ task: '{{input.topic}}: {{steps.a.output}}' }, ctx, 'the input')).toEqual({ task: 'tides: draft' });
    expect(templateScope({ x: 1 }, ctx.reads).steps).toEqual({ a: { status: 'succeeded', output: 'draft' } });
  });

  it('fails for good (not retryable) when a render or a prompt goes past its bound', () => {
    const small = { ...ctx, bounds: { ...DEFAULT_BOUNDS, maxRenderedBytes: 8 } };
    expect(thrownBy(NonRetryableError, () => renderFor({ task: '{{input.topic}} {{input.topic}}' }, small, 'the input')).message).toMatch(
      /^could not render the input: /,
    );
    expect(thrownBy(NonRetryableError, () => assertWithinPrompt({ long: 'x'.repeat(20) }, small, 'the prompt')).message).toBe(
      'the prompt is more than 8 bytes of text (SWITCHYARD_MAX_RENDERED_BYTES)',
    );
  });
});
