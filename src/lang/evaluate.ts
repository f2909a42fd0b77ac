/**
 * Evaluating a `when` expression (parsed by expression.ts): a walk of its closed AST only.
 * Missing values read as undefined and never throw: `steps.x.output.score > 3` is simply false
 * when the output has no score (relational operators are false when a side is null/undefined).
 */
import { DEFAULT_BOUNDS, MAX_EXPRESSION_DEPTH_SETTING } from '../config/env.js';
import { ValidationError } from '../errors/index.js';
import { excerpt } from '../errors/excerpt.js';
import { Rejected, parseWhen, type BinaryOp, type FnName, type ExpressionBounds, type ParsedWhen, type WhenNode, type WhenScope } from './expression.js';
import { RENDERED_BYTES_SETTING, readOutputField, readPath, toText } from './templates.js';
import { utf8Bytes } from './text-size.js';

const missing = (v: unknown): boolean => v === null || v === undefined;

/**
 * A string an expression builds is bounded like rendered text (scope.maxBytes): it is measured
 * before it is made, so `a + a + a ...` over a large output stops at the bound.
 */
function bounded(parts: readonly string[], maxBytes: number): string {
  let chars = 0;
  for (const p of parts) chars += p.length;
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most strings need no exact count.
  if (chars * 3 > maxBytes) {
    let bytes = 0;
    for (const p of parts) bytes += utf8Bytes(p);
    if (bytes > maxBytes) throw new Rejected(`it builds a text of more than ${maxBytes} bytes (${RENDERED_BYTES_SETTING})`);
  }
  return parts.length === 1 ? parts[0]! : parts.join('');
}

function call(fn: FnName, args: unknown[], maxBytes: number): unknown {
  const [a, b] = args;
  switch (fn) {
    case 'contains':
      if (typeof a === 'string') return !missing(b) && a.includes(String(b));
      if (Array.isArray(a)) return a.includes(b);
      return false;
    case 'len':
      if (typeof a === 'string' || Array.isArray(a)) return a.length;
      if (a !== null && typeof a === 'object') return Object.keys(a).length;
      return 0;
    case 'lower':
      return missing(a) ? '' : bounded([toText(a).toLowerCase()], maxBytes);
  }
}

function binary(op: BinaryOp, l: unknown, r: unknown, maxBytes: number): unknown {
  // Operands are JSON values; JS semantics apply except that ordering against a missing value is false.
  const [x, y] = [l as number, r as number];
  switch (op) {
    case '==':
      return l == r; // loose on purpose: `x == null` is true for a missing value
    case '!=':
      return l != r;
    case '===':
      return l === r;
    case '!==':
      return l !== r;
    case '<':
      return !missing(l) && !missing(r) && x < y;
    case '<=':
      return !missing(l) && !missing(r) && x <= y;
    case '>':
      return !missing(l) && !missing(r) && x > y;
    case '>=':
      return !missing(l) && !missing(r) && x >= y;
    case '+':
      return typeof l === 'string' || typeof r === 'string' ? bounded([String(l), String(r)], maxBytes) : x + y;
    case '-':
      return x - y;
    case '*':
      return x * y;
    case '/':
      return x / y;
    case '%':
      return x % y;
    case '&&':
    case '||':
      throw new Error('unreachable: logical operators short-circuit in evaluate');
  }
}

function evaluate(n: WhenNode, scope: WhenScope, maxBytes: number): unknown {
  const ev = (m: WhenNode) => evaluate(m, scope, maxBytes);
  switch (n.type) {
    case 'literal':
      return n.value;
    case 'ref': {
      if (n.root === 'var') return readPath(scope.vars?.[n.name], n.path);
      if (n.root === 'input') return readPath(scope.input, n.path);
      const [stepId, what, ...fields] = n.path as [string, 'status' | 'output', ...string[]];
      const step = Object.hasOwn(scope.steps, stepId) ? scope.steps[stepId] : undefined;
      if (what === 'status') return step?.status;
      return readOutputField(step?.output, fields);
    }
    case 'unary': {
      const v = ev(n.arg);
      return n.op === '!' ? !v : -(v as number);
    }
    case 'binary': {
      const l = ev(n.left);
      if (n.op === '&&') return l ? ev(n.right) : l;
      if (n.op === '||') return l ? l : ev(n.right);
      return binary(n.op, l, ev(n.right), maxBytes);
    }
    case 'conditional':
      return ev(n.test) ? ev(n.then) : ev(n.else);
    case 'call':
      return call(n.fn, n.args.map(ev), maxBytes);
  }
}

/**
 * The bounds an expression of a compiled workflow is parsed with when it runs: it was bounded
 * by the configured ones when it was compiled (maybe by another process, configured otherwise),
 * so only the recursion it may take is bounded here, by the most any configuration allows.
 */
const COMPILED_BOUNDS: ExpressionBounds = { maxExpressionChars: Number.MAX_SAFE_INTEGER, maxExpressionDepth: MAX_EXPRESSION_DEPTH_SETTING };
/** Expressions of compiled workflows, parsed once per process (by vars and text), the oldest dropped past MAX_PARSED. */
const parsedOnce = new Map<string, ParsedWhen>();
const MAX_PARSED = 1000;

/** The parse of an expression of a compiled workflow, parsed on first use. */
function parsedCompiled(expr: string, vars: readonly string[]): ParsedWhen {
  const key = `${vars.join(',')}\n${expr}`;
  let parsed = parsedOnce.get(key);
  if (!parsed) {
    parsed = parseWhen(expr, vars, COMPILED_BOUNDS);
    if (parsedOnce.size >= MAX_PARSED) parsedOnce.delete(parsedOnce.keys().next().value!);
    parsedOnce.set(key, parsed);
  }
  return parsed;
}

/**
 * Evaluate a `when` expression to a boolean (JS truthiness of the result). A string is the
 * text of a compiled workflow's expression (checked against the configured bounds when it was
 * compiled): parsed once, and not refused again for bounds. A string it would build past
 * `scope.maxBytes` (SWITCHYARD_MAX_RENDERED_BYTES) throws a ValidationError naming it.
 */
export function evaluateWhen(expr: ParsedWhen | string, scope: WhenScope): boolean {
  const parsed = typeof expr === 'string' ? parsedCompiled(expr, Object.keys(scope.vars ?? {})) : expr;
  try {
    return Boolean(evaluate(parsed.ast, scope, scope.maxBytes ?? DEFAULT_BOUNDS.maxRenderedBytes));
  } catch (err) {
    if (!(err instanceof Rejected)) throw err;
    const message = `when ${JSON.stringify(excerpt(parsed.source))}: ${err.message}`;
    throw new ValidationError(message, [{ path: 'when', message }]);
  }
}
