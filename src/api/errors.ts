/**
 * One error type for HTTP answers, and the one mapping from domain errors to status codes.
 * Every error answer is JSON: `{error: {code, message, issues?}}`.
 */
import type { ErrorRequestHandler } from 'express';
import { z } from 'zod';
import { ConflictError, EnvelopeSpentError, NotFoundError, UnavailableError, ValidationError, issuesFromZod, type Issue } from '../errors/index.js';
import type { Logger } from '../logger.js';
import { RefusalLog } from './refusals.js';
import { noteErrorCode } from './access-log.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: Issue[],
    /** Headers the answer carries (`WWW-Authenticate` of a 401). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

/** Parse `value` with `schema`, or throw a 422 naming each bad field. */
export function parseOr422<T extends z.ZodType>(schema: T, value: unknown, root = ''): z.infer<T> {
  const res = schema.safeParse(value);
  if (res.success) return res.data;
  const issues = issuesFromZod(res.error.issues, { root, emptyPath: '(body)' });
  throw new HttpError(422, 'invalid_request', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
}

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ValidationError) return new HttpError(422, 'invalid_request', err.message, err.issues.length ? err.issues : undefined);
  if (err instanceof NotFoundError) return new HttpError(404, 'not_found', err.message);
  if (err instanceof ConflictError) return new HttpError(409, 'conflict', err.message);
  if (err instanceof UnavailableError) return new HttpError(503, 'unavailable', err.message);
  if (err instanceof EnvelopeSpentError)
    return new HttpError(429, 'envelope_spent', err.message, undefined, { 'Retry-After': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) });
  // body-parser errors carry `type` and `status`.
  const e = err as { type?: string; status?: number; message?: string; limit?: number };
  if (e?.type === 'entity.parse.failed') return new HttpError(400, 'malformed_json', `malformed JSON body: ${e.message}`);
  if (e?.type === 'entity.too.large') return new HttpError(413, 'body_too_large', `request body is larger than the limit of ${e.limit} bytes`);
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
    return new HttpError(415, 'unsupported_encoding', e.message ?? 'unsupported encoding');
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return new HttpError(e.status, 'bad_request', e.message ?? 'bad request');
  return new HttpError(500, 'internal', 'internal error');
}

export function errorHandler(logger: Logger, refusals = new RefusalLog(logger)): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const http = toHttpError(err);
    // An expected refusal is counted at warn; any other 5xx is a bug, logged with its stack.
    if (err instanceof UnavailableError) refusals.note(err.kind, http.status, http.message);
    else if (http.status >= 500) logger.error({ err, method: req.method, path: req.path }, 'request failed');
    if (http.headers) res.set(http.headers);
    noteErrorCode(res, http.code);
    res.status(http.status).json({ error: { code: http.code, message: http.message, ...(http.issues ? { issues: http.issues } : {}) } });
  };
}
