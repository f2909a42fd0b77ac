/** What the client throws for an answer that is not a success: the status, and the server's error as it sent it. */
import type { ErrorBody } from '../api/responses.js';

type Issue = NonNullable<ErrorBody['error']['issues']>[number];

export class SwitchyardError extends Error {
  override readonly name = 'SwitchyardError';
  constructor(
    /** The HTTP status (401, 404, 409, 422, 429...). */
    readonly status: number,
    /** The server's error code (`not_found`, `conflict`, `invalid_request`...), or `http_<status>` when it sent none. */
    readonly code: string,
    message: string,
    /** Each bad field of a 422. */
    readonly issues: readonly Issue[] = [],
    /** Seconds to wait before trying again (a 429's or 503's Retry-After). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** The error of a failed answer (its body read as the server's `{error}` when it is one). */
export async function errorOf(res: Response): Promise<SwitchyardError> {
  const text = await res.text().catch(() => '');
  let error: Partial<ErrorBody['error']> | undefined;
  try {
    error = (JSON.parse(text) as Partial<ErrorBody>).error;
  } catch {
    /* not JSON: the text is the message */
  }
  const retry = Number(res.headers.get('retry-after'));
  return new SwitchyardError(
    res.status,
    error?.code ?? `http_${res.status}`,
    error?.message ?? (text || res.statusText || `HTTP ${res.status}`),
    error?.issues ?? [],
    Number.isFinite(retry) && res.headers.has('retry-after') ? retry : undefined,
  );
}
