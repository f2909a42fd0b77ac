import { z } from 'zod';

/**
 * A JSON object, kept as it is: every own key, `__proto__` included (a `z.record` would drop it
 * silently). Strings, arrays and null are refused.
 */
export const JsonObject = z.custom<Record<string, unknown>>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'expected an object');

/**
 * Set `key` of `obj` as an own data property, as JSON.parse and Object.fromEntries do: a
 * `__proto__` key (an input may have one) stays data, never replaces the prototype.
 */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
