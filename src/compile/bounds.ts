/**
 * Bounds checked before anything walks untrusted input recursively (zod, the compiler, the
 * template finder): nesting depth, and the number of steps of a workflow. Both walks are
 * iterative and stop at the first excess, so a hostile input costs little to refuse.
 */
import { excerpt } from '../errors/excerpt.js';
import { ValidationError } from '../errors/index.js';

interface Frame {
  v: object;
  depth: number;
  key: string | number;
  parent: Frame | undefined;
}

/** The path (segments) of the first value nested deeper than `maxDepth`, or undefined. */
export function tooDeep(value: unknown, maxDepth: number): (string | number)[] | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  // Each frame knows its parent: the path is built only for the value that is refused.
  const stack: Frame[] = [{ v: value, depth: 0, key: '', parent: undefined }];
  while (stack.length) {
    const frame = stack.pop()!;
    if (frame.depth >= maxDepth) {
      const path: (string | number)[] = [];
      for (let f: Frame | undefined = frame; f?.parent; f = f.parent) path.push(f.key);
      return path.reverse();
    }
    const entries: [string | number, unknown][] = Array.isArray(frame.v) ? frame.v.map((item, i) => [i, item]) : Object.entries(frame.v);
    for (const [key, v] of entries) if (v !== null && typeof v === 'object') stack.push({ v, depth: frame.depth + 1, key, parent: frame });
  }
  return undefined;
}

const formatPath = (path: readonly (string | number)[], root: string): string =>
  path.reduce<string>((out, s) => (typeof s === 'number' ? `${out}[${s}]` : out ? `${out}.${s}` : s), root);

/** Throws a ValidationError naming the place when `value` is nested deeper than `maxDepth`. */
export function assertDepth(value: unknown, maxDepth: number, root = ''): void {
  const path = tooDeep(value, maxDepth);
  if (!path) return;
  const at = formatPath(path, root) || '(body)';
  const message = `nested deeper than ${maxDepth} levels (at ${excerpt(at, 120)}; SWITCHYARD_MAX_JSON_DEPTH)`;
  throw new ValidationError(message, [{ path: at, message }]);
}

/** Throws a ValidationError naming the place when a string (a value or a key) of `value` has more than `maxBytes` UTF-8 bytes. */
export function assertFieldSizes(value: unknown, maxBytes: number, root = ''): void {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: [] }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    // A string's UTF-8 bytes are at most 3 per UTF-16 unit: only long ones are measured.
    const big = (s: string) => s.length * 3 > maxBytes && Buffer.byteLength(s) > maxBytes;
    if (typeof v === 'string') {
      if (big(v)) refuseField(path, root, `a string of ${Buffer.byteLength(v)} bytes`, maxBytes);
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, path: [...path, i] }));
    } else if (v !== null && typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        if (big(key)) refuseField(path, root, `a key of ${Buffer.byteLength(key)} bytes`, maxBytes);
        stack.push({ v: item, path: [...path, key] });
      }
    }
  }
}

function refuseField(path: (string | number)[], root: string, what: string, maxBytes: number): never {
  const at = formatPath(path, root) || '(body)';
  const message = `${what} (at ${excerpt(at, 120)}); at most ${maxBytes} bytes (SWITCHYARD_MAX_FIELD_BYTES)`;
  throw new ValidationError(message, [{ path: at, message }]);
}

/** How many steps the `steps` of a workflow definition hold (blocks counted through). */
export function countSteps(steps: unknown): number {
  let n = 0;
  const stack: unknown[] = Array.isArray(steps) ? steps.slice() : [];
  while (stack.length) {
    const b = stack.pop();
    if (b === null || typeof b !== 'object' || Array.isArray(b)) continue;
    const block = b as Record<string, unknown>;
    const items = Array.isArray(block.sequential) ? block.sequential : Array.isArray(block.parallel) ? block.parallel : undefined;
    if (items) for (const item of items) stack.push(item);
    else n++;
  }
  return n;
}
