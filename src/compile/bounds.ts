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
