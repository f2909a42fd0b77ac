/**
 * The scope a request acts in, decided once per request, here and nowhere else: today every
 * request acts for the default workspace of the process's cell (credentials will pick it). A
 * route reads it with `requestScope(res)` and hands it to the services it calls.
 */
import type { RequestHandler, Response } from 'express';
import { scopeOf, type Cell, type Scope } from '../store/scope.js';

/** The middleware that sets every request's scope (mounted before the routes). */
export function scopeRequests(cell: Cell): RequestHandler {
  const scope = scopeOf(cell);
  return (_req, res, next) => {
    res.locals.scope = scope;
    next();
  };
}

/** The scope `scopeRequests` set for this request. */
export function requestScope(res: Response): Scope {
  const scope = (res.locals as { scope?: Scope }).scope;
  if (!scope) throw new Error('no request scope: scopeRequests must run before the routes');
  return scope;
}
