/**
 * The `when` language: a small, safe expression evaluator.
 *
 * jsep parses the text; the jsep AST is then translated into our own closed AST (`WhenNode`),
 * rejecting every construct not on the whitelist with a message naming it. Evaluation walks only
 * that AST — there is no eval/new Function, no method call and no prototype access, and member
 * access is resolved as a static path through own properties (see readPath in templates.ts).
 * jsep's global operator tables are left untouched: other modules may use jsep too.
 *
 * Evaluation is in evaluate.ts.
 */
import jsep from 'jsep';
import { DEFAULT_BOUNDS, type Bounds } from '../config/env.js';
import { ValidationError } from '../errors/index.js';
import { excerpt } from '../errors/excerpt.js';
import type { TemplateScope } from './templates.js';

const BINARY_OPS = ['==', '!=', '===', '!==', '<', '<=', '>', '>=', '&&', '||', '+', '-', '*', '/', '%'] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];
/** name → number of arguments. */
const FUNCTIONS = { contains: 2, len: 1, lower: 1 } as const;
export type FnName = keyof typeof FUNCTIONS;
const BLOCKED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const KEYWORDS = new Set([
  'new',
  'typeof',
  'void',
  'delete',
  'function',
  'in',
  'instanceof',
  'await',
  'yield',
  'class',
  'import',
  'let',
  'var',
  'const',
  'return',
]);
/** jsep node types (some only exist when a jsep plugin is registered) and why they are refused. */
const REFUSED_NODES: Record<string, string> = {
  ThisExpression: '`this` is not allowed',
  ArrayExpression: 'array literals are not allowed',
  SequenceExpression: 'comma-separated expressions are not allowed',
  ArrowFunctionExpression: 'arrow functions are not allowed',
  AssignmentExpression: 'assignment is not allowed (compare with ==)',
  UpdateExpression: 'increment/decrement is not allowed',
  TemplateLiteral: 'template literals are not allowed',
  TaggedTemplateExpression: 'tagged template literals are not allowed',
  NewExpression: '`new` is not allowed',
  ObjectExpression: 'object literals are not allowed',
};

export type WhenNode =
  | { type: 'literal'; value: string | number | boolean | null }
  /** `input.a.b` → {root: 'input', path: ['a', 'b']}; `steps.x.output.f` → {root: 'steps', path: ['x', 'output', 'f']}. */
  | { type: 'ref'; root: 'input' | 'steps'; path: string[] }
  /** A name the caller provides (e.g. a loop's `verdict`), with the path below it. */
  | { type: 'ref'; root: 'var'; name: string; path: string[] }
  | { type: 'unary'; op: '!' | '-'; arg: WhenNode }
  | { type: 'binary'; op: BinaryOp; left: WhenNode; right: WhenNode }
  | { type: 'conditional'; test: WhenNode; then: WhenNode; else: WhenNode }
  | { type: 'call'; fn: FnName; args: WhenNode[] };

/** A `when` expression that passed the whitelist; safe to evaluate any number of times. */
export interface ParsedWhen {
  readonly source: string;
  readonly ast: WhenNode;
}

/** The scope an expression reads: the run input, the steps finished so far, and any names the caller allowed. */
export type WhenScope = TemplateScope & { vars?: Record<string, unknown> };

/** Names besides input and steps that the expression being parsed may read (parseWhen's `vars`). */
let allowedVars: readonly string[] = [];

/** An expression refused (parsing) or a value it may not build (evaluating): its message names why. */
export class Rejected extends Error {}
const reject = (message: string): never => {
  throw new Rejected(message);
};

/** Constructs jsep would reject with a vague "Unexpected ..." get a message naming them. */
function precheck(expr: string): void {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""'); // ignore string contents
  if (code.includes('`')) reject('template literals are not allowed');
  if (code.includes('=>')) reject('arrow functions are not allowed');
  if (/(^|[^=!<>])=(?!=)/.test(code)) reject('assignment is not allowed (compare with ==)');
  if (/\+\+|--/.test(code)) reject('increment/decrement is not allowed');
}

function memberKey(node: jsep.MemberExpression): string {
  let key: string;
  if (!node.computed) {
    key = (node.property as jsep.Identifier).name;
  } else {
    const prop = node.property;
    const literal = prop.type === 'Literal' ? (prop as jsep.Literal).value : undefined;
    if (typeof literal !== 'string' && typeof literal !== 'number') {
      return reject('computed member access needs a literal key, e.g. steps["my-step"].output');
    }
    key = String(literal);
  }
  if (BLOCKED_KEYS.has(key)) reject(`access to "${key}" is not allowed`);
  return key;
}

function toRef(root: string, path: string[]): WhenNode {
  if (allowedVars.includes(root)) return { type: 'ref', root: 'var', name: root, path };
  if (root === 'input') {
    if (path.length === 0) reject('`input` must be followed by a field, e.g. input.topic');
    return { type: 'ref', root, path };
  }
  if (root === 'steps') {
    const [stepId, what] = path;
    if (stepId === undefined || (what !== 'status' && what !== 'output')) {
      return reject('a step is read as steps.<id>.status or steps.<id>.output[.<field>]');
    }
    if (what === 'status' && path.length > 2) reject(`steps.${stepId}.status is a string and has no fields`);
    return { type: 'ref', root, path };
  }
  return reject(`unknown name "${root}": expressions read input.<field>${allowedVars.map((v) => `, ${v}`).join('')} and steps.<id>.status|output`);
}

/** Translate one jsep node into a WhenNode, or reject it. */
function convert(node: jsep.Expression): WhenNode {
  switch (node.type) {
    case 'Literal': {
      const { value } = node as jsep.Literal;
      if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) {
        return { type: 'literal', value: value as string | number | boolean | null };
      }
      return reject('only string, number, boolean and null literals are allowed');
    }
    case 'Identifier': {
      const { name } = node as jsep.Identifier;
      if (KEYWORDS.has(name)) reject(`the keyword "${name}" is not allowed`);
      return toRef(name, []);
    }
    case 'MemberExpression': {
      const path: string[] = [];
      let cur: jsep.Expression = node;
      while (cur.type === 'MemberExpression') {
        const member = cur as jsep.MemberExpression;
        path.unshift(memberKey(member));
        cur = member.object;
      }
      if (cur.type !== 'Identifier') return reject('member access is only allowed on input and steps');
      return toRef((cur as jsep.Identifier).name, path);
    }
    case 'UnaryExpression': {
      const { operator, argument } = node as jsep.UnaryExpression;
      if (operator !== '!' && operator !== '-') return reject(`unary operator "${operator}" is not allowed`);
      return { type: 'unary', op: operator, arg: convert(argument) };
    }
    case 'BinaryExpression': {
      const { operator, left, right } = node as jsep.BinaryExpression;
      if (!(BINARY_OPS as readonly string[]).includes(operator)) return reject(`operator "${operator}" is not allowed`);
      return { type: 'binary', op: operator as BinaryOp, left: convert(left), right: convert(right) };
    }
    case 'ConditionalExpression': {
      const c = node as jsep.ConditionalExpression;
      return { type: 'conditional', test: convert(c.test), then: convert(c.consequent), else: convert(c.alternate) };
    }
    case 'CallExpression': {
      const { callee, arguments: args } = node as jsep.CallExpression;
      if (callee.type !== 'Identifier') return reject('method calls are not allowed; only contains(), len() and lower()');
      const name = (callee as jsep.Identifier).name;
      if (!Object.hasOwn(FUNCTIONS, name)) return reject(`unknown function "${name}"; only contains(), len() and lower() are available`);
      const arity = FUNCTIONS[name as FnName];
      if (args.length !== arity) reject(`${name}() takes ${arity} argument${arity === 1 ? '' : 's'}, got ${args.length}`);
      return { type: 'call', fn: name as FnName, args: args.map(convert) };
    }
    case 'Compound': {
      const first = (node as jsep.Compound).body[0];
      if (first?.type === 'Identifier' && KEYWORDS.has((first as jsep.Identifier).name)) {
        return reject(`the keyword "${(first as jsep.Identifier).name}" is not allowed`);
      }
      return reject('expected a single expression (is an operator missing?)');
    }
    default:
      return reject(REFUSED_NODES[node.type] ?? `${node.type} is not allowed`);
  }
}

/** Bounds on an expression, checked before it is walked recursively (convert, evaluate). */
export type ExpressionBounds = Pick<Bounds, 'maxExpressionChars' | 'maxExpressionDepth'>;

/**
 * How deep `root` nests, counted without stack recursion, stopping past `max`. A chain of
 * member accesses (`steps.x.output.a`) is one level: it is read as one path.
 */
function depthOf(root: jsep.Expression, max: number): number {
  let deepest = 0;
  const stack: [jsep.Expression, number][] = [[root, 1]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    deepest = Math.max(deepest, depth);
    if (deepest > max) return deepest;
    for (const [key, value] of Object.entries(node)) {
      const children = Array.isArray(value) ? value : [value];
      const next = node.type === 'MemberExpression' && key === 'object' ? depth : depth + 1;
      for (const c of children)
        if (c !== null && typeof c === 'object' && typeof (c as jsep.Expression).type === 'string') stack.push([c as jsep.Expression, next]);
    }
  }
  return deepest;
}

/**
 * Parse and whitelist a `when` expression. Throws ValidationError (path `when`) on any problem.
 * `vars` are names it may read besides input and steps (evaluated from the scope's `vars`).
 * An expression longer or deeper than `bounds` is refused before it is walked.
 */
export function parseWhen(expr: string, vars: readonly string[] = [], bounds: ExpressionBounds = DEFAULT_BOUNDS): ParsedWhen {
  allowedVars = vars;
  try {
    const { maxExpressionChars: maxChars, maxExpressionDepth: maxDepth } = bounds;
    if (expr.length > maxChars) reject(`is ${expr.length} characters long; at most ${maxChars} (SWITCHYARD_MAX_EXPRESSION_CHARS)`);
    precheck(expr);
    let ast: jsep.Expression;
    try {
      ast = jsep(expr);
    } catch (err) {
      return reject(`cannot parse: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (depthOf(ast, maxDepth) > maxDepth)
      reject(
        `nests deeper than ${maxDepth} levels of operators, calls and conditions (SWITCHYARD_MAX_EXPRESSION_DEPTH); split it, or compute a value in an earlier step`,
      );
    return { source: expr, ast: convert(ast) };
  } catch (err) {
    if (!(err instanceof Rejected)) throw err;
    const message = `when ${JSON.stringify(excerpt(expr))}: ${err.message}`;
    throw new ValidationError(message, [{ path: 'when', message }]);
  } finally {
    allowedVars = [];
  }
}

/** Step ids and top-level input fields an expression reads (sorted, unique), for validation. */
export function whenRefs(parsed: ParsedWhen): { steps: string[]; input: string[] } {
  const steps = new Set<string>();
  const input = new Set<string>();
  const walk = (n: WhenNode): void => {
    switch (n.type) {
      case 'ref':
        if (n.root !== 'var') (n.root === 'steps' ? steps : input).add(n.path[0] as string);
        return;
      case 'unary':
        return walk(n.arg);
      case 'binary':
        walk(n.left);
        return walk(n.right);
      case 'conditional':
        [n.test, n.then, n.else].forEach(walk);
        return;
      case 'call':
        return n.args.forEach(walk);
      case 'literal':
        return;
    }
  };
  walk(parsed.ast);
  return { steps: [...steps].sort(), input: [...input].sort() };
}
