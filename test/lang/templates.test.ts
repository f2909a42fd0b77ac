import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors/index.js';
import {
  findTemplateRefs,
  knownRenderedBytes,
  listOf,
  parseOutputJson,
  readOutputField,
  renderTemplates,
  type TemplateScope,
} from '../../src/lang/templates.js';
import { jsonBytes } from '../../src/lang/text-size.js';

const scope = (input: Record<string, unknown> = {}, outputs: Record<string, string | null> = {}): TemplateScope => ({
  input,
  steps: Object.fromEntries(Object.entries(outputs).map(([id, output]) => [id, { status: 'succeeded', output }])),
});

describe('findTemplateRefs', () => {
  it('finds input and step references anywhere in a value, with their location', () => {
    const refs = findTemplateRefs({
      task: 'Write about {{input.topic}} using {{ steps.research.output }}',
      context: { list: ['{{  steps.a.output.score.value  }}'], n: 3 },
    });
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
    expect(
      renderTemplates('{{input.list}}|{{input.obj}}|{{input.nothing}}|{{input.absent}}|{{input.flag}}|{{steps.skipped.output}}|{{steps.unknown.output}}', s),
    ).toBe('["a","b"]|{"k":1}|||false||');
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

describe('bounded rendering (SWITCHYARD_MAX_RENDERED_BYTES)', () => {
  const KB = 1024;

  it('stops as soon as the text passes the bound, before it reads (or joins) the rest', () => {
    // 1,000 templates over 100 KB fields: 100 MB if rendered; the bound is 1 MB.
    let reads = 0;
    const input: Record<string, unknown> = {};
    for (let i = 0; i < 1000; i++) {
      Object.defineProperty(input, `f${i}`, { enumerable: true, get: () => (reads++, 'x'.repeat(100 * KB)) });
    }
    const task = Array.from({ length: 1000 }, (_, i) => `{{input.f${i}}}`).join(' ');
    expect(() => renderTemplates({ task }, { ...scope(input), maxBytes: 1024 * KB })).toThrow(
      `it renders to more than ${1024 * KB} bytes of text (SWITCHYARD_MAX_RENDERED_BYTES)`,
    );
    expect(reads).toBeLessThanOrEqual(11);
  });

  it('counts every text of the value, literal and inserted, in UTF-8 bytes; the same template repeated is looked up once', () => {
    const value = { task: 'ééé{{input.a}}', context: { list: ['{{input.a}}', 'z'] } };
    // 6 + 1 + 1 + 1 bytes.
    expect(renderTemplates(value, { ...scope({ a: 'x' }), maxBytes: 9 })).toEqual({ task: 'éééx', context: { list: ['x', 'z'] } });
    expect(() => renderTemplates(value, { ...scope({ a: 'x' }), maxBytes: 8 })).toThrow('SWITCHYARD_MAX_RENDERED_BYTES');
    // Without a bound given, the default one (1 MiB) applies.
    expect(() => renderTemplates({ task: '{{input.a}}{{input.a}}' }, scope({ a: 'y'.repeat(600 * KB) }))).toThrow(`more than ${1024 * KB} bytes`);
  });

  it('measures what the run input alone renders into, without rendering: other templates count nothing', () => {
    const x = 'x'.repeat(100 * KB);
    expect(knownRenderedBytes({ task: '{{input.x}}'.repeat(2000) }, { x })).toBe(2000 * 100 * KB);
    expect(knownRenderedBytes({ task: 'ab {{steps.s.output}} {{input.n}}', context: { o: '{{input.o}}', item: '{{item}}' } }, { n: 12, o: { k: 'é' } })).toBe(
      3 + 1 + 2 + '{"k":"é"}'.length + 1,
    );
  });

  it('reads a list from an array or a JSON text of one', () => {
    expect(listOf(['a'])).toEqual(['a']);
    expect(listOf('["a", 1]')).toEqual(['a', 1]);
    expect(listOf(' ')).toEqual([]);
    expect(listOf(null)).toEqual([]);
    expect(listOf('{"a": 1}')).toBeUndefined();
    expect(listOf(3)).toBeUndefined();
  });
});

describe('jsonBytes', () => {
  it('measures the JSON text of a value in UTF-8 bytes without building it', () => {
    for (const v of [null, 12, 'é', [], {}, ['a', { b: [true, null, 1.5] }], { ké: 'v', n: [], o: {} }])
      expect(jsonBytes(v)).toBe(Buffer.byteLength(JSON.stringify(v)));
  });

  it('stops once past the bound it is given', () => {
    const many = Array.from({ length: 100_000 }, () => 'x'.repeat(100));
    const n = jsonBytes(many, 1000);
    expect(n).toBeGreaterThan(1000);
    // Not the full 10 MB: it stopped after the first few strings.
    expect(n).toBeLessThan(200_000);
  });
});
