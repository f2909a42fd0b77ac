/**
 * Templates inside step inputs.
 *
 * Grammar (whitespace allowed just inside the braces):
 *   {{ input.<field>[.<key>...] }}
 *   {{ steps.<stepId>.output }}
 *   {{ steps.<stepId>.output.<key>[.<key>...] }}
 *   {{ context.<name>[.<key>...] }}  what steps published into the run's shared context
 *   {{ <name>[.<key>...] }}          where the step kind provides <name> (forEach: item, index)
 * where <field> is a declared input field, <stepId> a step id and <key> is letters, digits,
 * `_` or `-` (a number indexes an array). Any other `{{ ... }}` is an error, never kept as text,
 * so a typo cannot slip a literal `{{stesp.a.output}}` into a prompt.
 *
 * Rendering always produces text: strings as they are, numbers/booleans via String, objects and
 * arrays as JSON, null/undefined (a missing value) as "". Inserted text is not re-scanned, so a
 * step output that contains `{{ ... }}` cannot inject a template.
 *
 * A render is bounded (SWITCHYARD_MAX_RENDERED_BYTES): every text of the rendered value counts,
 * in UTF-8 bytes, and rendering stops as soon as the count passes the bound, before the text is
 * joined, so that a few bytes of templates (`{{input.x}}` repeated) cannot become a huge prompt.
 *
 * Also home of the one helper that reads a field of an output text (`readOutputField`), shared
 * with the `when` evaluator in expression.ts.
 */
import { DEFAULT_BOUNDS } from '../config/env.js';
import { ValidationError } from '../errors/index.js';
import { setOwn } from '../model/json.js';
import { STEP_ID_PATTERN } from '../model/step.js';
import { utf8Bytes } from './text-size.js';

/** Where a template sits inside the value given to findTemplateRefs, e.g. ['context', 'sources', 0]. */
export type ValuePath = Array<string | number>;

export type TemplateRef = { raw: string; at: ValuePath } & (
  | { kind: 'input'; /** Field then nested keys: `input.a.b` → ['a', 'b']. */ path: string[] }
  | { kind: 'step'; stepId: string; /** Keys after `.output` (empty for the whole text). */ path: string[] }
  /** A name of the run's shared context, with keys below it. */
  | { kind: 'context'; name: string; path: string[] }
  /** A name the step kind provides (forEach's `item`, `index`), with keys below it. */
  | { kind: 'var'; name: string; path: string[] }
  | { kind: 'invalid'; /** Why the template is not one of the supported forms. */ reason: string }
);

/** What templates can read while a run executes. */
export interface TemplateScope {
  input: Record<string, unknown>;
  steps: Record<string, { status: string; output: unknown }>;
  /** Values of the names a step kind provides (see `vars` of findTemplateRefs). */
  vars?: Record<string, unknown>;
  /** The run's shared context (the names the step reads). */
  context?: Record<string, unknown>;
  /**
   * Most UTF-8 bytes of text a render over this scope may produce, and of a string an expression
   * over it may build (SWITCHYARD_MAX_RENDERED_BYTES; its default when absent).
   */
  maxBytes?: number;
}

/** The setting that bounds rendered text (named in every refusal). */
export const RENDERED_BYTES_SETTING = 'SWITCHYARD_MAX_RENDERED_BYTES';

const TEMPLATE = /\{\{([\s\S]*?)\}\}/g;
const KEY = /^[A-Za-z0-9_-]+$/;
const FORMS = 'use {{ input.<field> }}, {{ steps.<id>.output }}, {{ steps.<id>.output.<field> }} or {{ context.<name> }}';

/** Parse the text between `{{` and `}}` into a reference (or the reason it is not one). */
function parseRef(raw: string, inner: string, at: ValuePath, vars: readonly string[]): TemplateRef {
  const invalid = (reason: string): TemplateRef => ({ kind: 'invalid', raw, at, reason });
  const text = inner.trim();
  if (text === '') return invalid(`empty template; ${FORMS}`);
  const parts = text.split('.');
  if (parts.some((p) => !KEY.test(p))) return invalid(`unsupported template syntax; ${FORMS}`);
  const [root, ...rest] = parts as [string, ...string[]];
  if (vars.includes(root)) return { kind: 'var', raw, at, name: root, path: rest };
  if (root === 'input') {
    if (rest.length === 0) return invalid('name an input field: {{ input.<field> }}');
    return { kind: 'input', raw, at, path: rest };
  }
  if (root === 'context') {
    const [name, ...path] = rest;
    if (name === undefined) return invalid('name a context entry: {{ context.<name> }}');
    return { kind: 'context', raw, at, name, path };
  }
  if (root === 'steps') {
    const [stepId, what, ...path] = rest;
    if (stepId === undefined || !STEP_ID_PATTERN.test(stepId)) return invalid(`name a step: ${FORMS}`);
    if (what !== 'output') return invalid(`a step reference reads .output: {{ steps.${stepId}.output }}`);
    return { kind: 'step', raw, at, stepId, path };
  }
  return invalid(`unknown template root "${root}"; ${FORMS}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Every template in every string of `value` (recursing into arrays and plain objects). `vars`
 * are the names the value may read besides input and steps.
 */
export function findTemplateRefs(value: unknown, vars: readonly string[] = []): TemplateRef[] {
  const refs: TemplateRef[] = [];
  const walk = (v: unknown, at: ValuePath): void => {
    if (typeof v === 'string') {
      for (const m of v.matchAll(TEMPLATE)) refs.push(parseRef(m[0], m[1] ?? '', at, vars));
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, [...at, i]));
    } else if (isPlainObject(v)) {
      for (const [k, item] of Object.entries(v)) {
        // Keys are never rendered, so a template there would silently stay literal text.
        for (const m of k.matchAll(TEMPLATE))
          refs.push({ kind: 'invalid', raw: m[0], at: [...at, k], reason: 'templates are rendered in values, not in keys' });
        walk(item, [...at, k]);
      }
    }
  };
  walk(value, []);
  return refs;
}

/**
 * Read `path` below `value` through own properties only (never the prototype chain), with
 * numeric keys indexing arrays. Anything missing gives undefined instead of throwing.
 */
export function readPath(value: unknown, path: readonly string[]): unknown {
  let cur = value;
  for (const key of path) {
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(key)) return undefined;
      cur = cur[Number(key)];
    } else if (cur !== null && typeof cur === 'object' && Object.hasOwn(cur, key)) {
      cur = (cur as Record<string, unknown>)[key];
    } else {
      return undefined;
    }
  }
  return cur;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The JSON value carried by an LLM output text. Models wrap JSON in prose or a ```json fence,
 * so try, in order: the whole text, each fenced block, then the span from the first `{` to the
 * last `}`. Undefined when none parses.
 */
export function parseOutputJson(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    const whole = tryJson(trimmed);
    if (whole !== undefined) return whole;
  }
  for (const m of trimmed.matchAll(/```[A-Za-z]*[^\S\n]*\n?([\s\S]*?)```/g)) {
    const fenced = tryJson((m[1] ?? '').trim());
    if (fenced !== undefined) return fenced;
  }
  const start = trimmed.indexOf('{');
  const end = trimmed.lastIndexOf('}');
  return start >= 0 && end > start ? tryJson(trimmed.slice(start, end + 1)) : undefined;
}

/**
 * The shared "read a field of a step output" helper: with an empty path the output itself,
 * otherwise the field of the JSON an output text carries, or of an output that is JSON already
 * (undefined when absent or not JSON).
 */
export function readOutputField(output: unknown, path: readonly string[]): unknown {
  if (path.length === 0) return output ?? undefined;
  if (output === null || output === undefined) return undefined;
  return readPath(typeof output === 'string' ? parseOutputJson(output) : output, path);
}

/** How a value appears inside rendered text: a string as it is, other JSON as JSON text, null as nothing. */
export function toText(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'object':
      return value === null ? '' : JSON.stringify(value);
    default:
      return ''; // undefined (functions and symbols never come from JSON)
  }
}

function resolve(ref: TemplateRef, scope: TemplateScope): unknown {
  switch (ref.kind) {
    case 'input':
      return readPath(scope.input, ref.path);
    case 'step': {
      const step = Object.hasOwn(scope.steps, ref.stepId) ? scope.steps[ref.stepId] : undefined;
      return readOutputField(step?.output, ref.path);
    }
    case 'var':
      return readOutputField(scope.vars?.[ref.name], ref.path);
    case 'context':
      return readOutputField(scope.context && Object.hasOwn(scope.context, ref.name) ? scope.context[ref.name] : undefined, ref.path);
    case 'invalid':
      // compileWorkflow rejects these; reaching here means an uncompiled input was rendered.
      throw new ValidationError(`invalid template ${ref.raw}: ${ref.reason}`, [{ path: ref.at.join('.'), message: ref.reason }]);
  }
}

/** What one template inserts, and its size: looked up once per render, however often it appears. */
interface Insert {
  text: string;
  bytes: number;
}

/** Each literal piece and each template of `text`, in order. */
function* piecesOf(text: string): Generator<{ literal: string } | { raw: string; inner: string }> {
  let last = 0;
  for (const m of text.matchAll(TEMPLATE)) {
    if (m.index > last) yield { literal: text.slice(last, m.index) };
    yield { raw: m[0], inner: m[1] ?? '' };
    last = m.index + m[0].length;
  }
  if (last < text.length) yield { literal: last === 0 ? text : text.slice(last) };
}

/**
 * Every string of `value` (arrays and plain objects walked), with where it sits, rebuilt by `map`.
 * `at` is the walk's own path, changed as it goes on: valid during the call it is given to (what
 * keeps it copies it), so no path is made per value walked.
 * A function of the module, not a closure made per call: run through tsx (npm start), esbuild's
 * keepNames names such a closure with Object.defineProperty on each call, once per step rendered.
 */
function mapStrings(value: unknown, map: (text: string, at: ValuePath) => string, at: ValuePath = []): unknown {
  if (typeof value === 'string') return map(value, at);
  if (Array.isArray(value)) return value.map((item, i) => within(at, i, item, map));
  if (!isPlainObject(value)) return value;
  // Its own enumerable fields, as Object.entries gives them, set one by one.
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) setOwn(out, k, within(at, k, value[k], map));
  return out;
}

/** mapStrings of `item`, which sits at `key` below `at`. */
function within(at: ValuePath, key: string | number, item: unknown, map: (text: string, at: ValuePath) => string): unknown {
  at.push(key);
  const out = mapStrings(item, map, at);
  at.pop();
  return out;
}

/** The error of a render past `max` bytes of text. */
function tooLarge(max: number): ValidationError {
  const message = `it renders to more than ${max} bytes of text (${RENDERED_BYTES_SETTING})`;
  return new ValidationError(message, [{ path: '', message }]);
}

/**
 * Replace every template in every string of `value`; returns a new value of the same shape.
 * Throws a ValidationError naming SWITCHYARD_MAX_RENDERED_BYTES as soon as the texts pass
 * `scope.maxBytes` in all (see the module header).
 */
export function renderTemplates<T>(value: T, scope: TemplateScope): T {
  const max = scope.maxBytes ?? DEFAULT_BOUNDS.maxRenderedBytes;
  const vars = Object.keys(scope.vars ?? {});
  const inserts = new Map<string, Insert>();
  let total = 0;
  return mapStrings(value, (text, at) => {
    // No `{{`, no template (most texts of most inputs): the text as it is, counted.
    if (!text.includes('{{')) {
      if ((total += utf8Bytes(text)) > max) throw tooLarge(max);
      return text;
    }
    const parts: string[] = [];
    for (const piece of piecesOf(text)) {
      if ('literal' in piece) {
        if ((total += utf8Bytes(piece.literal)) > max) throw tooLarge(max);
        parts.push(piece.literal);
        continue;
      }
      let insert = inserts.get(piece.raw);
      if (!insert) {
        const inserted = toText(resolve(parseRef(piece.raw, piece.inner, [...at], vars), scope));
        inserts.set(piece.raw, (insert = { text: inserted, bytes: utf8Bytes(inserted) }));
      }
      if ((total += insert.bytes) > max) throw tooLarge(max);
      parts.push(insert.text);
    }
    return parts.length === 1 ? parts[0]! : parts.join('');
  }) as T;
}

/**
 * The UTF-8 bytes of text `value` renders into at least, knowing only the run input: its literal
 * text and what its `{{input...}}` templates insert (other templates count nothing). Counted
 * without building the text, each template's insert measured once.
 */
export function knownRenderedBytes(value: unknown, input: Record<string, unknown>): number {
  const sizes = new Map<string, number>();
  let total = 0;
  mapStrings(value, (text, at) => {
    if (!text.includes('{{')) {
      total += utf8Bytes(text);
      return text;
    }
    for (const piece of piecesOf(text)) {
      if ('literal' in piece) {
        total += utf8Bytes(piece.literal);
        continue;
      }
      let bytes = sizes.get(piece.raw);
      if (bytes === undefined) {
        const ref = parseRef(piece.raw, piece.inner, [...at], []);
        bytes = ref.kind === 'input' ? utf8Bytes(toText(readPath(input, ref.path))) : 0;
        sizes.set(piece.raw, bytes);
      }
      total += bytes;
    }
    return text;
  });
  return total;
}

/**
 * The list a forEach's `items` value gives: an array as it is, a JSON text of one parsed, and
 * nothing (null, missing, a blank text) as []. Undefined when it is not a list.
 */
export function listOf(value: unknown): unknown[] | undefined {
  let v = value;
  if (typeof v === 'string') v = v.trim() === '' ? [] : (parseOutputJson(v) ?? v);
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : undefined;
}

/** `text` is exactly one template (whitespace around it aside). */
export const isSingleTemplate = (text: string): boolean => /^\s*\{\{[^{}]*\}\}\s*$/.test(text);

/** The value (not its text) one template reads: `{{steps.find.output.list}}` → the list itself. */
export function resolveTemplateValue(text: string, scope: TemplateScope): unknown {
  const m = /^\s*(\{\{([^{}]*)\}\})\s*$/.exec(text);
  if (!m) throw new ValidationError(`expected one template, e.g. {{ steps.<id>.output.<field> }}: ${text}`, [{ path: '', message: 'expected one template' }]);
  return resolve(parseRef(m[1]!, m[2]!, [], Object.keys(scope.vars ?? {})), scope);
}
