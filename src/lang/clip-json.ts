/**
 * Cutting a JSON value down to a size, keeping its shape: what a step keeps to debug its calls
 * (a prompt can be far larger than anything worth storing with every step).
 */

/** Strings are never cut shorter than this (characters). */
const MIN_CHARS = 32;
/** Arrays are never cut to fewer items than this. */
const MIN_ITEMS = 2;

/**
 * The UTF-8 size of `value`'s JSON text, exactly (it stringifies `value`: for what is cut to a
 * few KB here). Not src/lang/text-size.ts's jsonBytes, which walks a value of any size
 * without building its text and counts about its size.
 */
export const jsonTextBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? 'null');

/**
 * `text` cut to about `max` characters: its start and its end, with how much was cut between
 * them (the end of a prompt holds its question, the start of an answer its gist).
 */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = Math.ceil(max * 0.75);
  const tail = max - head;
  return `${text.slice(0, head)} … [${text.length - head - tail} characters cut] … ${tail > 0 ? text.slice(-tail) : ''}`;
}

/**
 * `value` cut to at most `maxBytes` of JSON: long strings keep their start and end, long arrays
 * their first and last items (a note in place of the middle), halving both until it fits. A
 * value that still does not fit becomes a note of its size. `truncated` says whether it was cut.
 */
export function clipJson(value: unknown, maxBytes: number): { value: unknown; truncated: boolean } {
  const size = jsonTextBytes(value);
  if (size <= maxBytes) return { value, truncated: false };
  let chars = Math.max(MIN_CHARS, Math.floor(maxBytes / 2));
  let items = 64;
  for (;;) {
    const cut = cutWith(value, chars, items);
    if (jsonTextBytes(cut) <= maxBytes) return { value: cut, truncated: true };
    if (chars === MIN_CHARS && items === MIN_ITEMS) return { value: `[${size} bytes of JSON, too large to keep]`, truncated: true };
    chars = Math.max(MIN_CHARS, chars >> 1);
    items = Math.max(MIN_ITEMS, items >> 1);
  }
}

function cutWith(value: unknown, chars: number, items: number): unknown {
  if (typeof value === 'string') return clipText(value, chars);
  if (Array.isArray(value)) {
    const list: unknown[] = value;
    const kept =
      list.length <= items
        ? list
        : [...list.slice(0, Math.ceil(items / 2)), `[${list.length - items} items cut]`, ...list.slice(list.length - Math.floor(items / 2))];
    return kept.map((v) => cutWith(v, chars, items));
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cutWith(v, chars, items)]));
  }
  return value;
}
