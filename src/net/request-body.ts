/** What one outbound request sends: its headers, its JSON body or query string, and after a redirect. */

export type OutboundMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Headers kept when a redirect leaves the origin: credentials stay with the host they were meant for. */
const CROSS_ORIGIN_KEPT = new Set(['accept', 'content-type', 'idempotency-key', 'user-agent']);

export interface RequestParts {
  method: OutboundMethod;
  headers: Record<string, string>;
  body?: string;
}

/** A header name HTTP allows (a token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The name of the first header HTTP cannot carry (a bad name, a value with a line break or NUL), or undefined. */
export function badHeader(headers: Record<string, string> | undefined): string | undefined {
  for (const [name, value] of Object.entries(headers ?? {})) if (!HEADER_NAME.test(name) || /[\r\n\0]/.test(value)) return name;
  return undefined;
}

/** The fetch parts of a request: JSON body (not for GET), `Idempotency-Key`, JSON content type unless set. */
export function requestInit(req: { method: OutboundMethod; headers?: Record<string, string>; body?: unknown; idempotencyKey?: string }): RequestParts {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers ?? {})) headers[name.toLowerCase()] = value;
  if (req.idempotencyKey !== undefined) headers['idempotency-key'] = req.idempotencyKey;
  if (req.method === 'GET' || req.body === undefined) return { method: req.method, headers };
  headers['content-type'] ??= 'application/json';
  return { method: req.method, headers, body: JSON.stringify(req.body) };
}

/**
 * A GET's arguments as its query string, after the URL's own: strings, numbers and booleans as
 * they are, an array as the name repeated, an object (or null) as its JSON.
 */
export function withQuery(url: URL, body: unknown): URL {
  const out = new URL(url);
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) return out;
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.searchParams.append(name, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  return out;
}

/** The request after a redirect: 303 (and 301/302 of a POST) become a GET without a body; across origins only neutral headers stay. */
export function redirected(prev: RequestParts, status: number, crossOrigin: boolean): RequestParts {
  const toGet = status === 303 || ((status === 301 || status === 302) && prev.method === 'POST');
  const headers = Object.fromEntries(Object.entries(prev.headers).filter(([name]) => !crossOrigin || CROSS_ORIGIN_KEPT.has(name)));
  if (!toGet) return { ...prev, headers };
  delete headers['content-type'];
  return { method: 'GET', headers };
}
