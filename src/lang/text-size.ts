/**
 * Sizes of texts and JSON values, in UTF-8 bytes, measured without building anything big: what
 * the bounds on rendered inputs, outputs and `when` strings (SWITCHYARD_MAX_RENDERED_BYTES,
 * SWITCHYARD_MAX_OUTPUT_BYTES) are counted in.
 */
import { Buffer } from 'node:buffer';

/** UTF-8 bytes of `text` (no copy is made). */
export const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/**
 * About the UTF-8 bytes of `value`'s JSON text (strings counted as their UTF-8 bytes and two
 * quotes, escapes left out), walked without stringifying it; the walk stops once the count
 * passes `stopAbove` (it returns a number above it then, not the full size).
 */
export function jsonBytes(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length && total <= stopAbove) {
    const v = stack.pop();
    if (typeof v === 'string') total += utf8Bytes(v) + 2;
    else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') total += String(v).length;
    else if (v === null || v === undefined) total += 4;
    else if (Array.isArray(v)) {
      total += v.length === 0 ? 2 : v.length + 1;
      for (const item of v) stack.push(item);
    } else if (typeof v === 'object') {
      const entries = Object.entries(v);
      total += entries.length === 0 ? 2 : entries.length + 1;
      for (const [k, item] of entries) {
        total += utf8Bytes(k) + 3;
        stack.push(item);
      }
    }
  }
  return total;
}
