/** How the Anthropic SDK's errors read, for the shared classification (../../classify.ts). */
import * as Anthropic from '@anthropic-ai/sdk';
import type { VendorErrors, VendorFailure } from '../../classify.js';

export const anthropicErrors: VendorErrors = {
  read(err: unknown): VendorFailure | undefined {
    // The abort and connection errors are APIErrors too: they are told apart first.
    if (err instanceof Anthropic.APIUserAbortError) return { kind: 'aborted', message: err.message };
    if (err instanceof Anthropic.APIConnectionError) return { kind: 'connection', message: err.message };
    return isApiError(err) ? apiFailure(err) : undefined;
  },
};

/** instanceof, with the type parameters the SDK declares (instanceof alone leaves them `any`). */
const isApiError = (e: unknown): e is Anthropic.APIError => e instanceof Anthropic.APIError;

/** An error the API answered with. */
function apiFailure(e: Anthropic.APIError): VendorFailure {
  const types = typeof e.type === 'string' ? [e.type] : [];
  return {
    kind: 'api',
    status: e.status,
    type: e.type,
    code: e.errorCode,
    types,
    message: e.apiMessage || e.message,
    headers: e.headers,
    // 529, or an overload sent inside a stream (no status): the provider is unwell.
    overloaded: e.status === 529 || types.includes('overloaded_error'),
  };
}
