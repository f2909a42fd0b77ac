/**
 * The bound on what a step stores as its output (SWITCHYARD_MAX_OUTPUT_BYTES): an output is
 * measured (its JSON text, in UTF-8 bytes, without building it) before it is recorded, and one
 * past the bound fails the step instead: a single answer, or a forEach's list of many, must not
 * fill Redis or make the run too big to read.
 */
import { jsonBytes } from '../lang/text-size.js';

export const OUTPUT_BYTES_SETTING = 'SWITCHYARD_MAX_OUTPUT_BYTES';

/** Why `output` may not be stored (it is past `maxBytes`), or undefined when it may. */
export function outputTooLarge(output: unknown, maxBytes: number): string | undefined {
  if (jsonBytes(output, maxBytes) <= maxBytes) return undefined;
  return `the step's output is more than ${maxBytes} bytes (${OUTPUT_BYTES_SETTING}); it is not stored`;
}
