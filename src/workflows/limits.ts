/**
 * Bounds checked before anything walks untrusted input recursively (zod, the compiler, the
 * template finder): nesting depth, and the number of steps of a workflow. Both walks are
 * iterative and stop at the first excess, so a hostile input costs little to refuse.
 */
import { ValidationError } from '../errors/index.js';

/** The path (segments) of the first value nested deeper than `maxDepth`, or undefined. */
export function tooDeep(value: unknown, maxDepth: number): (string | number)[] | undefined {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: [] }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (path.length >= maxDepth) return path;
    if (Array.isArray(v)) v.forEach((item, i) => stack.push({ v: item, path: [...path, i] }));
    else for (const [k, item] of Object.entries(v)) stack.push({ v: item, path: [...path, k] });
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
  const message = `nested deeper than ${maxDepth} levels (at ${at.length > 120 ? `${at.slice(0, 120)}...` : at}; SWITCHYARD_MAX_JSON_DEPTH)`;
  throw new ValidationError(message, [{ path: at, message }]);
}

/** How many steps the `steps` of a workflow definition hold (blocks counted through). */
export function countSteps(steps: unknown): number {
  let n = 0;
  const stack: unknown[] = Array.isArray(steps) ? [...steps] : [];
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
