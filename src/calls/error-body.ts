/**
 * What a provider answered when a call failed, to keep on the step (its `debug`): the HTTP
 * status, the error type and code and the provider's own message, from the SDK error a
 * classified error carries as its cause (read by its vendor: vendors/<name>/errors.ts). Never
 * the headers, and never a key: a message that quotes one (OpenAI's "Incorrect API key
 * provided: sk-...") has it masked.
 */
import { RateLimitedError, NonRetryableError, RetryableError } from '../errors/index.js';
import { toText } from '../lang/templates.js';
import type { ProviderErrorBody } from '../model/run.js';
import { maskKeys, type VendorFailure } from './classify.js';
import { VENDORS } from './vendors/index.js';

/**
 * The provider's error body of `err` (thrown by a provider call): from the SDK error behind it
 * when there is one, else its message alone (a timeout, a lost connection, a refusal).
 */
export function providerErrorBody(err: unknown): ProviderErrorBody {
  const sdk = sdkFailureOf(err);
  if (sdk?.kind === 'api') {
    // A compatible server may send any JSON there: kept as text (JSON text when not a string).
    const { type, code } = sdk;
    return {
      ...(Number.isInteger(sdk.status) ? { status: sdk.status } : {}),
      ...(type != null && type !== '' ? { type: toText(type) } : {}),
      ...(code != null && code !== '' ? { code: toText(code) } : {}),
      message: maskKeys(sdk.message),
    };
  }
  if (sdk?.kind === 'aborted') return { message: maskKeys(sdk.message) };
  const status = err instanceof RetryableError || err instanceof NonRetryableError || err instanceof RateLimitedError ? err.status : undefined;
  return { ...(status !== undefined ? { status } : {}), message: maskKeys(err instanceof Error ? err.message : String(err)) };
}

/** The first error in `err`'s causes that a vendor's SDK threw, as that vendor reads it. */
function sdkFailureOf(err: unknown): VendorFailure | undefined {
  const readers = Object.values(VENDORS).flatMap((v) => (v.errors ? [v.errors] : []));
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    for (const r of readers) {
      const failure = r.read(e);
      if (failure) return failure;
    }
  }
  return undefined;
}
