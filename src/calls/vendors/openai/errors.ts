/** How the OpenAI SDK's errors read, for the shared classification (../../classify.ts). */
import * as OpenAI from 'openai';
import type { VendorErrors, VendorFailure } from '../../classify.js';

export const openaiErrors: VendorErrors = {
  read(err: unknown): VendorFailure | undefined {
    // The abort and connection errors are APIErrors too: they are told apart first.
    if (err instanceof OpenAI.APIUserAbortError) return { kind: 'aborted', message: err.message };
    if (err instanceof OpenAI.APIConnectionError) return { kind: 'connection', message: err.message };
    return isApiError(err) ? apiFailure(err) : undefined;
  },
};

/** instanceof, with the type parameters the SDK declares (instanceof alone leaves them `any`). */
const isApiError = (e: unknown): e is OpenAI.APIError => e instanceof OpenAI.APIError;

/** An error the API answered with. */
function apiFailure(e: OpenAI.APIError): VendorFailure {
  // The SDK keeps the body's `error` object in `e.error`; a compatible server may put any JSON in it.
  const body: { message?: unknown } | undefined = e.error;
  const type: unknown = e.type;
  const code: unknown = e.code;
  return {
    kind: 'api',
    status: e.status,
    type,
    code,
    types: [type, code].filter((t): t is string => typeof t === 'string'),
    message: typeof body?.message === 'string' ? body.message : e.message,
    headers: e.headers,
    overloaded: false,
  };
}
