import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors/index.js';
import { evaluateWhen } from '../../src/lang/evaluate.js';
import { parseWhen, whenRefs, type WhenScope } from '../../src/lang/expression.js';
import { thrownBy } from '../helpers/errors.js';

const scope: WhenScope = {
  input: { topic: 'AI Agents', count: 3, tags: ['ai', 'agents'], nested: { deep: { flag: true } }, empty: '' },
  steps: {
    review: { status: 'succeeded', output: 'Done.\n```json\n{"needs_changes": true, "score": 4, "labels": ["bug"], "verdict": "Reject"}\n```' },
    research: { status: 'succeeded', output: 'plain text findings about AI' },
    'fact-check': { status: 'failed', output: null },
    legal: { status: 'skipped', output: null },
  },
};
const when = (expr: string) => evaluateWhen(expr, scope);

/** The message parseWhen rejects an expression with. */
const rejection = (expr: string): string => thrownBy(ValidationError, () => parseWhen(expr)).message;

describe('evaluateWhen: operators', () => {
  it.each([
    ['1 + 2 * 3 == 7', true],
    ['(1 + 2) * 3 === 9', true],
    ['10 % 4 == 2 && 9 / 3 == 3', true],
    ['5 - 7 < 0', true],
    ['2 <= 2 && 3 >= 4', false],
    ['!false', true],
    ['-input.count == -3', true],
    ['"a" + "b" == "ab"', true],
    ['input.count != 3 || input.count !== 3', false],
    ['input.count == "3"', true],
    ['input.count === "3"', false],
    ['null == null', true],
    ['input.count > 2 ? "yes" : ""', true],
    ['input.count > 5 ? "yes" : ""', false],
    ['input.empty', false],
    ['0', false],
  ])('%s → %s', (expr, expected) => {
    expect(when(expr)).toBe(expected);
  });
});

describe('evaluateWhen: reading input and steps', () => {
  it('reads input fields, nested fields and array items', () => {
    expect(when('input.topic == "AI Agents"')).toBe(true);
    expect(when('input.nested.deep.flag')).toBe(true);
    expect(when('input.tags[1] == "agents" && input["tags"][0] == "ai"')).toBe(true);
  });

  it('reads step status and JSON fields of a step output, fenced or not', () => {
    expect(when('steps.review.status == "succeeded"')).toBe(true);
    expect(when('steps.review.output.needs_changes')).toBe(true);
    expect(when('steps.review.output.score > 3')).toBe(true);
    expect(when('steps["fact-check"].status == "failed"')).toBe(true);
  });

  it('treats missing values as undefined without throwing', () => {
    expect(when('steps.research.output.score > 3')).toBe(false);
    expect(when('steps.research.output.score < 3')).toBe(false);
    expect(when('steps.legal.output.score >= 0')).toBe(false);
    expect(when('steps.nope.output.a.b.c')).toBe(false);
    expect(when('steps.nope.status == null')).toBe(true);
    expect(when('input.absent.deeper == null')).toBe(true);
    expect(when('steps.review.output.labels[5] == null')).toBe(true);
  });
});

describe('evaluateWhen: functions', () => {
  it('contains() searches strings and arrays', () => {
    expect(when('contains(steps.research.output, "AI")')).toBe(true);
    expect(when('contains(steps.research.output, "robots")')).toBe(false);
    expect(when('contains(input.tags, "ai")')).toBe(true);
    expect(when('contains(steps.review.output.labels, "feature")')).toBe(false);
    expect(when('contains(steps.legal.output, "x")')).toBe(false);
  });

  it('len() measures strings, arrays and objects, and is 0 for missing values', () => {
    expect(when('len(input.tags) == 2 && len(input.topic) == 9 && len(input.nested) == 1')).toBe(true);
    expect(when('len(steps.legal.output) == 0')).toBe(true);
  });

  it('lower() lowercases, for case-insensitive comparisons', () => {
    expect(when('lower(steps.review.output.verdict) == "reject"')).toBe(true);
    expect(when('contains(lower(input.topic), "agents")')).toBe(true);
    expect(when('lower(steps.legal.output) == ""')).toBe(true);
  });

  it('checks the number of arguments at parse time', () => {
    expect(rejection('len(input.a, input.b)')).toContain('len() takes 1 argument, got 2');
    expect(rejection('contains(input.a)')).toContain('contains() takes 2 arguments, got 1');
  });
});

describe('parseWhen: rejected constructs', () => {
  it.each([
    ['eval("1")', 'unknown function "eval"'],
    ['process.exit()', 'method calls are not allowed'],
    ['input.topic.toString()', 'method calls are not allowed'],
    ['input.constructor', 'access to "constructor" is not allowed'],
    ['steps.a.output.__proto__', 'access to "__proto__" is not allowed'],
    ['input["prototype"]', 'access to "prototype" is not allowed'],
    ['input[input.key]', 'computed member access needs a literal key'],
    ['this', '`this` is not allowed'],
    ['this.x', 'member access is only allowed on input and steps'],
    ['x => 1', 'arrow functions are not allowed'],
    ['input.a = 1', 'assignment is not allowed'],
    ['input.a += 1', 'assignment is not allowed'],
    ['`x`', 'template literals are not allowed'],
    ['new Date()', 'the keyword "new" is not allowed'],
    ['typeof input.a', 'the keyword "typeof" is not allowed'],
    ['[1, 2]', 'array literals are not allowed'],
    ['input.a | 1', 'operator "|" is not allowed'],
    ['input.a ?? 1', 'operator "??" is not allowed'],
    ['~input.a', 'unary operator "~" is not allowed'],
    ['window', 'unknown name "window"'],
    ['input', '`input` must be followed by a field'],
    ['steps.a', 'steps.<id>.status or steps.<id>.output'],
    ['steps.a.status.length', 'has no fields'],
    ['input.a input.b', 'expected a single expression'],
    ['input.a &&', 'cannot parse'],
    ['"x".length', 'member access is only allowed on input and steps'],
  ])('%s', (expr, message) => {
    expect(rejection(expr)).toContain(message);
  });

  it('quotes the expression in the message and locates the issue at `when`', () => {
    const err = thrownBy(ValidationError, () => parseWhen('foo(1)'));
    expect(err.message).toBe('when "foo(1)": unknown function "foo"; only contains(), len() and lower() are available');
    expect(err.issues[0]?.path).toBe('when');
  });

  it('does not mistake operators inside strings for forbidden constructs', () => {
    expect(when('input.topic != "a = b => `c`" && contains("x++", "+")')).toBe(true);
  });

  it('throws ValidationError from evaluateWhen given an invalid string', () => {
    expect(() => when('constructor.constructor("return process")()')).toThrow(ValidationError);
  });
});

describe('whenRefs', () => {
  it('lists the step ids and top-level input fields an expression reads', () => {
    const parsed = parseWhen('steps.b.status == "succeeded" && contains(steps.a.output.x, input.topic) ? input.n.m > 1 : steps["a"].output');
    expect(whenRefs(parsed)).toEqual({ steps: ['a', 'b'], input: ['n', 'topic'] });
  });

  it('can be evaluated many times once parsed', () => {
    const parsed = parseWhen('input.count > 2');
    expect(evaluateWhen(parsed, scope)).toBe(true);
    expect(evaluateWhen(parsed, { input: { count: 1 }, steps: {} })).toBe(false);
  });
});

describe('names the caller allows (a loop’s verdict and iteration)', () => {
  it('reads them from the scope’s vars, and refuses them where they are not allowed', () => {
    const until = parseWhen('verdict.score >= 7 && iteration < 3', ['verdict', 'iteration']);
    expect(evaluateWhen(until, { input: {}, steps: {}, vars: { verdict: { score: 8 }, iteration: 2 } })).toBe(true);
    expect(evaluateWhen(until, { input: {}, steps: {}, vars: { verdict: { score: 8 }, iteration: 3 } })).toBe(false);
    expect(() => parseWhen('verdict.score >= 7')).toThrow('unknown name "verdict"');
    expect(() => parseWhen('score > 1', ['verdict'])).toThrow('expressions read input.<field>, verdict and steps.<id>.status|output');
  });
});

describe('expressions of compiled workflows', () => {
  it('are evaluated without the bounds they were compiled against: a configuration may allow more than the defaults', () => {
    const chain = Array.from({ length: 100 }, () => 'input.count == 3').join(' && ');
    // Refused by the default bounds, taken by a configuration that allows it.
    expect(() => parseWhen(chain)).toThrow(/SWITCHYARD_MAX_EXPRESSION_DEPTH/);
    expect(whenRefs(parseWhen(chain, [], { maxExpressionChars: 10_000, maxExpressionDepth: 200 })).input).toEqual(['count']);
    // What the engine does with the step's text when it runs.
    expect(evaluateWhen(chain, scope)).toBe(true);
    expect(evaluateWhen(`${chain} && input.count == 4`, scope)).toBe(false);
  });
});
