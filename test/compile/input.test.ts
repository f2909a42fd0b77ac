import { describe, expect, it } from 'vitest';
import { ValidationError, type Issue } from '../../src/errors/index.js';
import { compileWorkflow } from '../../src/compile/compile.js';
import { validateRunInput } from '../../src/compile/input.js';
import { thrownBy } from '../helpers/errors.js';

const wf = compileWorkflow(
  {
    name: 'inputs',
    input: {
      topic: { type: 'string' },
      count: { type: 'number', default: 3 },
      urgent: { type: 'boolean', required: false },
      filters: { type: 'object', default: { region: 'eu' } },
      competitors: { type: 'array', required: false },
    },
    steps: [{ id: 'a', agent: 'research', input: { task: '{{ input.topic }}' } }],
  },
  { agents: ['research'] },
);

const issuesOf = (input: unknown): Issue[] => thrownBy(ValidationError, () => validateRunInput(wf, input)).issues;

describe('validateRunInput', () => {
  it('accepts valid input and applies defaults', () => {
    expect(validateRunInput(wf, { topic: 'AI', urgent: true, competitors: ['a', 'b'] })).toEqual({
      topic: 'AI',
      count: 3,
      urgent: true,
      filters: { region: 'eu' },
      competitors: ['a', 'b'],
    });
  });

  it('lets an explicit value override a default', () => {
    expect(validateRunInput(wf, { topic: 'AI', count: 10 })).toMatchObject({ count: 10 });
  });

  it('gives every run its own copy of an object default', () => {
    const first = validateRunInput(wf, { topic: 'AI' });
    (first.filters as Record<string, unknown>).region = 'us';
    expect(validateRunInput(wf, { topic: 'AI' }).filters).toEqual({ region: 'eu' });
  });

  it('requires required fields without a default', () => {
    expect(issuesOf({})).toEqual([{ path: 'input.topic', message: 'required field is missing (type string)' }]);
  });

  it('type-checks every declared field type', () => {
    expect(issuesOf({ topic: 1, count: 'many', urgent: 'yes', filters: [], competitors: { a: 1 } })).toEqual([
      { path: 'input.topic', message: 'expected string, got number' },
      { path: 'input.count', message: 'expected number, got string' },
      { path: 'input.urgent', message: 'expected boolean, got string' },
      { path: 'input.filters', message: 'expected object, got array' },
      { path: 'input.competitors', message: 'expected array, got object' },
    ]);
  });

  it('rejects unknown fields and lists the declared ones', () => {
    expect(issuesOf({ topic: 'AI', topik: 'AI' })).toEqual([
      { path: 'input.topik', message: 'unknown input field "topik"; declared fields: competitors, count, filters, topic, urgent' },
    ]);
  });

  it('rejects input that is not an object', () => {
    for (const bad of [null, 'AI', ['AI'], 3]) expect(issuesOf(bad)[0]?.path).toBe('input');
  });

  it('says so when a workflow declares no input at all', () => {
    const bare = compileWorkflow({ name: 'bare', steps: [{ id: 'a', agent: 'r', input: { task: 't' } }] }, { agents: ['r'] });
    expect(validateRunInput(bare, {})).toEqual({});
    expect(() => validateRunInput(bare, { x: 1 })).toThrow('this workflow declares no input fields');
  });

  it('puts every problem in the error message', () => {
    expect(() => validateRunInput(wf, { count: 'x' })).toThrow(/input\.topic: required field is missing.*input\.count: expected number/);
  });
});
