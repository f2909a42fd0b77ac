/**
 * What a provider answered when a call failed, to keep on the step (its `debug`): the HTTP
 * status, the error type and code and the provider's own message, from the SDK error a
 * classified error carries as its cause. Never the headers, and never a key: a message that
 * quotes one (OpenAI's "Incorrect API key provided: sk-...") has it masked.
 */
import * as Anthropic from '@anthropic-ai/sdk';
import * as OpenAI from 'openai';
import { RateLimitedError, NonRetryableError, RetryableError } from '../errors/index.js';
import { toText } from '../lang/templates.js';
import type { ProviderErrorBody } from '../model/run.js';
import { maskKeys, providerMessage } from './classify.js';

/**
 * The provider's error body of `err` (thrown by a provider call): from the SDK error behind it
 * when there is one, else its message alone (a timeout, a lost connection, a refusal).
 */
export function providerErrorBody(err: unknown): ProviderErrorBody {
  const sdk = sdkErrorOf(err);
  if (sdk && !(sdk instanceof Anthropic.APIConnectionError || sdk instanceof OpenAI.APIConnectionError)) {
    // A compatible server may send any JSON there: kept as text (JSON text when not a string).
    const type: unknown = sdk.type;
    const code: unknown = sdk instanceof OpenAI.APIError ? sdk.code : sdk.errorCode;
    return {
      ...(Number.isInteger(sdk.status) ? { status: sdk.status } : {}),
      ...(type != null && type !== '' ? { type: toText(type) } : {}),
      ...(code != null && code !== '' ? { code: toText(code) } : {}),
      message: maskKeys(providerMessage(sdk)),
    };
  }
  const status = err instanceof RetryableError || err instanceof NonRetryableError || err instanceof RateLimitedError ? err.status : undefined;
  return { ...(status !== undefined ? { status } : {}), message: maskKeys(err instanceof Error ? err.message : String(err)) };
}

function sdkErrorOf(err: unknown): Anthropic.APIError | OpenAI.APIError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof Anthropic.APIError || e instanceof OpenAI.APIError) return e;
  }
  return undefined;
}
