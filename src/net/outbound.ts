/**
 * The one outbound HTTP client: HTTP tools, the `http` step and webhooks call the world through
 * it. Each try is checked by egress before it connects (redirects too, hop by hop), bounded in
 * time and in the bytes it reads; network errors, timeouts, 5xx and 429 (with a Retry-After that
 * is not too long) are tried again with backoff, a 4xx is not. Any HTTP answer comes back, the
 * last one when the tries run out: the caller decides what a status means. What it throws:
 * EgressRefusedError, OutboundNetworkError (after the tries), CancelledError (the caller's
 * signal). Messages name the method and the URL without its query; secret values given in
 * `redact` never appear in them, and header values never do.
 */
import type { EgressConfig } from '../config/egress-env.js';
import { CancelledError, NonRetryableError, RetryableError } from '../errors/index.js';
import { excerpt } from '../errors/excerpt.js';
import { checkEgress, systemLookup, type HostLookup } from './egress.js';
import { parseBody, readCapped } from './read-capped.js';
import { badHeader, redirected, requestInit, withQuery, type OutboundMethod } from './request-body.js';
import { backoff, retryWait, sleep } from './retry.js';
import { redactSecrets } from './redact.js';

export type { OutboundMethod } from './request-body.js';

export interface OutboundRequest {
  url: string;
  method: OutboundMethod;
  headers?: Record<string, string>;
  /** JSON for POST, PUT, PATCH, DELETE; for GET, its fields become the query string. */
  body?: unknown;
  /** Each try is aborted after this long (and counts as a network error). @default 30000 */
  timeoutMs?: number;
  /** Most bytes of the response body read; the rest is dropped and `truncated` says so. @default 1048576 */
  maxBytes?: number;
  /** Sent as `Idempotency-Key`, the same on every try. */
  idempotencyKey?: string;
  /** Tries, the first included. @default 3 */
  attempts?: number;
  /** The caller's cancellation: no more tries, CancelledError. */
  signal?: AbortSignal;
  /** Values never to show in an error message (secrets filled into the URL or headers). */
  redact?: readonly string[];
}

export interface OutboundResponse {
  status: number;
  /** Lowercase names. */
  headers: Record<string, string>;
  /** Parsed JSON when the answer says it is JSON and is whole, else text ('' for none). */
  body: unknown;
  /** The body was longer than `maxBytes` and was cut. */
  truncated: boolean;
  /** Tries made (1 when the first answered). */
  attempts: number;
}

/** The tries ran out on network errors or timeouts (no HTTP answer). */
export class OutboundNetworkError extends RetryableError {}

export interface OutboundDeps {
  egress: EgressConfig;
  /** How a host name is resolved for the egress check. @default dns.lookup */
  lookup?: HostLookup;
  /** First backoff between tries, doubled each time (with jitter), ms. @default 250 */
  backoffMs?: number;
  /** Longest backoff, and longest Retry-After honoured (a longer 429 is returned as is), ms. @default 30000 */
  maxWaitMs?: number;
}

export type Outbound = (req: OutboundRequest) => Promise<OutboundResponse>;

const MAX_REDIRECTS = 5;

export function createOutbound(deps: OutboundDeps): Outbound {
  const lookup = deps.lookup ?? systemLookup;
  const backoffMs = deps.backoffMs ?? 250;
  const maxWaitMs = deps.maxWaitMs ?? 30_000;

  return async (req) => {
    const attempts = Math.max(1, req.attempts ?? 3);
    const url = req.method === 'GET' ? withQuery(parseUrl(req), req.body) : parseUrl(req);
    const label = describe(req.method, url, req.redact ?? []);
    const bad = badHeader(req.headers);
    if (bad !== undefined)
      throw new NonRetryableError(`${label}: the header ${JSON.stringify(excerpt(bad, 64))} cannot be sent (a bad name, or a line break in its value)`);
    let lastError = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (req.signal?.aborted) throw new CancelledError(`${label}: cancelled`);
      let res: OutboundResponse;
      try {
        res = { ...(await tryOnce(req, url, deps.egress, lookup)), attempts: attempt };
      } catch (err) {
        if (req.signal?.aborted) throw new CancelledError(`${label}: cancelled`);
        if (!(err instanceof TryFailed)) throw err;
        lastError = redactSecrets(err.message, req.redact ?? []);
        if (attempt < attempts) await sleep(backoff(attempt, backoffMs, maxWaitMs), req.signal, label);
        continue;
      }
      const wait = retryWait(res.status, res.headers['retry-after'], attempt, backoffMs, maxWaitMs);
      if (wait === undefined || attempt === attempts) return res;
      await sleep(wait, req.signal, label);
    }
    throw new OutboundNetworkError(`${label}: ${lastError} (after ${attempts} tries)`);
  };
}

/** The request's URL; a bad one is named by its method only (it may hold a secret). */
function parseUrl(req: OutboundRequest): URL {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw new NonRetryableError(`${req.method}: the URL is not a valid absolute URL`);
  }
  if (url.username || url.password)
    throw new NonRetryableError(`${describe(req.method, url, req.redact ?? [])}: credentials in the URL are not sent; use a header`);
  return url;
}

/** A try that got no HTTP answer (network error, timeout): worth another. */
class TryFailed extends Error {}

async function tryOnce(req: OutboundRequest, first: URL, egress: EgressConfig, lookup: HostLookup): Promise<Omit<OutboundResponse, 'attempts'>> {
  const timeout = AbortSignal.timeout(req.timeoutMs ?? 30_000);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  let init = requestInit(req);
  let url = first;
  for (let hop = 0; ; hop++) {
    await checkEgress(url, egress, lookup);
    let res: Response;
    try {
      res = await fetch(url, { ...init, redirect: 'manual', signal });
    } catch (err) {
      throw new TryFailed(failure(err, timeout, req));
    }
    const next = res.status >= 300 && res.status < 400 && hop < MAX_REDIRECTS ? redirectTarget(res, url) : undefined;
    if (next) {
      await res.body?.cancel();
      init = redirected(init, res.status, next.origin !== url.origin);
      url = next;
      continue;
    }
    try {
      const { text, truncated } = await readCapped(res, req.maxBytes ?? 1024 * 1024);
      return { status: res.status, headers: Object.fromEntries(res.headers), body: parseBody(res, text, truncated), truncated };
    } catch (err) {
      throw new TryFailed(failure(err, timeout, req));
    }
  }
}

/** Where a redirect points (relative to `from`); undefined without a Location that is a URL (the answer is returned as it is). */
function redirectTarget(res: Response, from: URL): URL | undefined {
  const location = res.headers.get('location');
  if (!location) return undefined;
  try {
    return new URL(location, from);
  } catch {
    return undefined;
  }
}

/** Why a try got no answer, without header values (undici's causes name the code, e.g. ECONNREFUSED). */
function failure(err: unknown, timeout: AbortSignal, req: OutboundRequest): string {
  if (timeout.aborted) return `no answer within ${req.timeoutMs ?? 30_000} ms`;
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : undefined;
  const code = cause && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
  return code ?? (cause ?? (err instanceof Error ? err : new Error(String(err)))).message;
}

/** `POST https://host/path` (no query: it may hold arguments), secrets replaced. */
function describe(method: string, url: URL, redact: readonly string[]): string {
  return redactSecrets(`${method} ${url.origin}${url.pathname}`, redact);
}
