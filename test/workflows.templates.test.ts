import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors/index.js';
import { findTemplateRefs, parseOutputJson, readOutputField, renderTemplates, type TemplateScope } from '../src/workflows/templates.js';

const scope = (input: Record<string, unknown> = {}, outputs: Record<string, string | null> = {}): TemplateScope => ({
  input,
  steps: Object.fromEntries(Object.entries(outputs).map(([id, output]) => [id, { status: 'succeeded', output }])),
});

describe('findTemplateRefs', () => {
  it('finds input and step references anywhere in a value, with their location', () => {
    const refs = findTemplateRefs({ task: 'Write about {{input.topic}} using {{ steps.research.output }}', context: { list: ['{{  steps.a.output.score.value  }}'], n: 3 } });
    expect(refs).toEqual([
      { kind: 'input', raw: '{{input.topic}}', at: ['task'], path: ['topic'] },
      { kind: 'step', raw: '{{ steps.research.output }}', at: ['task'], stepId: 'research', path: [] },
      { kind: 'step', raw: '{{  steps.a.output.score.value  }}', at: ['context', 'list', 0], stepId: 'a', path: ['score', 'value'] },
    ]);
  });

  it('reads nested input paths', () => {
    expect(findTemplateRefs('{{ input.company.name }}')).toMatchObject([{ kind: 'input', path: ['company', 'name'] }]);
  });

  it.each([
    ['{{foo}}', 'unknown template root "foo"'],
    ['{{ }}', 'empty template'],
    ['{{ input }}', 'name an input field'],
    ['{{ steps.a }}', 'reads .output'],
    ['{{ steps.a.status }}', 'reads .output'],
    ['{{ input.a + 1 }}', 'unsupported template syntax'],
    ['{{ steps.1a.output }}', 'name a step'],
  ])('reports %s as invalid', (text, reason) => {
    const [ref] = findTemplateRefs({ task: text });
    expect(ref?.kind).toBe('invalid');
    expect(ref && 'reason' in ref ? ref.reason : '').toContain(reason);
  });

  it('reports a template in an object key, which would never be rendered', () => {
    expect(findTemplateRefs({ context: { '{{ input.a }}': 'x' } })).toMatchObject([{ kind: 'invalid', at: ['context', '{{ input.a }}'] }]);
  });

  it('ignores text without complete templates', () => {
    expect(findTemplateRefs({ task: 'a { b } {{ unclosed', n: 1, ok: true, none: null })).toEqual([]);
  });
});

describe('renderTemplates', () => {
  it('renders input values and whole step outputs into strings, keeping the shape', () => {
    const value = { task: 'Post about {{ input.topic }}', context: { research: '{{steps.r.output}}', items: ['{{ input.n }}', 7] } };
    expect(renderTemplates(value, scope({ topic: 'AI agents', n: 3 }, { r: 'five findings' }))).toEqual({
      task: 'Post about AI agents',
      context: { research: 'five findings', items: ['3', 7] },
    });
    expect(value.task).toBe('Post about {{ input.topic }}'); // the original is untouched
  });

  it('renders objects and arrays as JSON and missing or null values as the empty string', () => {
    const s = scope({ list: ['a', 'b'], obj: { k: 1 }, nothing: null, flag: false }, { skipped: null });
    expect(renderTemplates('{{input.list}}|{{input.obj}}|{{input.nothing}}|{{input.absent}}|{{input.flag}}|{{steps.skipped.output}}|{{steps.unknown.output}}', s)).toBe(
      '["a","b"]|{"k":1}|||false||',
    );
  });

  it('reads nested input fields and array indexes', () => {
    expect(renderTemplates('{{ input.company.name }} / {{ input.names.1 }}', scope({ company: { name: 'Acme' }, names: ['x', 'y'] }))).toBe('Acme / y');
  });

  it('reads JSON fields of a step output', () => {
    const s = scope({}, { a: '{"summary": "ok", "risks": ["sql injection"], "score": {"value": 4}}' });
    expect(renderTemplates('{{ steps.a.output.summary }}; {{ steps.a.output.risks }}; {{steps.a.output.score.value}}; {{steps.a.output.risks.0}}', s)).toBe(
      'ok; ["sql injection"]; 4; sql injection',
    );
  });

  it('reads JSON inside a ```json fence or surrounded by prose', () => {
    const fenced = 'Here is the analysis:\n```json\n{"verdict": "approve"}\n```\nLet me know.';
    const prose = 'Sure! {"verdict": "reject", "nested": {"a": 1}} Hope this helps.';
    expect(renderTemplates('{{steps.f.output.verdict}} {{steps.p.output.verdict}}', scope({}, { f: fenced, p: prose }))).toBe('approve reject');
  });

  it('gives the empty string for a missing field or an output that is not JSON', () => {
    expect(renderTemplates('[{{steps.a.output.nope}}][{{steps.b.output.x}}]', scope({}, { a: '{"x":1}', b: 'plain text' }))).toBe('[][]');
  });

  it('does not re-scan inserted text, so an output cannot inject a template', () => {
    expect(renderTemplates('{{ steps.a.output }}', scope({ secret: 's3cret' }, { a: 'try {{ input.secret }}' }))).toBe('try {{ input.secret }}');
  });

  it('never reads through the prototype chain', () => {
    expect(renderTemplates('[{{ input.constructor }}][{{ input.toString }}][{{ steps.a.output.constructor }}]', scope({}, { a: '{}' }))).toBe('[][][]');
  });

  it('refuses to render an invalid template rather than keep it', () => {
    expect(() => renderTemplates({ task: '{{ foo }}' }, scope())).toThrow(ValidationError);
  });

  it('keeps a __proto__ key as plain data', () => {
    const rendered = renderTemplates(JSON.parse('{"__proto__": {"polluted": "{{ input.x }}"}}') as Record<string, unknown>, scope({ x: 'y' }));
    expect(Object.getPrototypeOf(rendered)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(rendered, '__proto__')?.value).toEqual({ polluted: 'y' });
  });
});

describe('the shared output-field helper', () => {
  it('returns the text itself for an empty path and undefined when there is no output', () => {
    expect(readOutputField('hello', [])).toBe('hello');
    expect(readOutputField(null, [])).toBeUndefined();
    expect(readOutputField(null, ['x'])).toBeUndefined();
  });

  it('parses whole-text JSON, fenced JSON and an object embedded in prose', () => {
    expect(parseOutputJson('[1, 2]')).toEqual([1, 2]);
    expect(parseOutputJson('```\n{"a": 1}\n```')).toEqual({ a: 1 });
    expect(parseOutputJson('The answer is {"a": {"b": 2}}.')).toEqual({ a: { b: 2 } });
    expect(parseOutputJson('no json here')).toBeUndefined();
  });
});
