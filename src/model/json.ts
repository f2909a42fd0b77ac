import { z } from 'zod';

/**
 * A JSON object, kept as it is: every own key, `__proto__` included (a `z.record` would drop it
 * silently). Strings, arrays and null are refused.
 */
export const JsonObject = z.custom<Record<string, unknown>>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'expected an object');
