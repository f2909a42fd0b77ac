/**
 * Who a request acts as and in which scope, decided here and nowhere else. `credentialRequests`
 * (mounted before the routes) hands each request the authenticator; the route builder
 * (route.ts) calls `authorize` with the route's declared access before its handler runs: the
 * credential gives the principal, the principal's workspace gives the scope. A route reads the
 * scope with `requestScope(res)` and the principal with `requestPrincipal(res)`.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Authenticator } from '../auth/authenticator.js';
import { CredentialRefusal } from '../auth/authenticator.js';
import { holds, type ApiScope, type Principal } from '../auth/principal.js';
import { scopeOf, type Cell, type Scope } from '../store/scope.js';

/** Where a workspace's requests act: its scope (in its cell), or a cell every workspace is in. */
export type Placement = ((workspace: string) => Scope) | Cell;
import { HttpError } from './errors.js';
import type { Admit } from './rate-limit.js';

/** A route's access rule: open to anyone (health checks, the login page), or the scope it needs. */
export type Access = 'public' | ApiScope;

/** The cookie of an admin session (Bull Board's login). */
export const SESSION_COOKIE = 'sy_session';

/** Called when a credential is refused (the audit log records it). */
export type OnRefused = (req: Request, reason: string, status: 401 | 403, principal?: Principal) => void;

interface Locals {
  auth?: { authenticator: Authenticator; place: (workspace: string) => Scope; onRefused: OnRefused; admit: Admit };
  principal?: Principal;
  scope?: Scope;
}

/**
 * The middleware that hands every request the authenticator (mounted before the routes), and
 * what counts a workspace's requests against its rate (rate-limit.ts; default: no limit).
 */
export function credentialRequests(
  authenticator: Authenticator,
  placement: Placement,
  onRefused: OnRefused = () => undefined,
  admit: Admit = () => Promise.resolve(),
): RequestHandler {
  const place = typeof placement === 'function' ? placement : (workspace: string) => scopeOf(placement, workspace);
  const auth = { authenticator, place, onRefused, admit };
  return (_req, res, next) => {
    (res.locals as Locals).auth = auth;
    next();
  };
}

/**
 * The header a request made with the session cookie must carry to change anything outside
 * /admin (the run pages send it): a cross-site form cannot set a header, so a page elsewhere
 * cannot act with a browser's session even where a browser sends the cookie along.
 */
export const PAGE_HEADER = 'x-switchyard-page';

/** What a request presents: its bearer token, or else its session cookie (/admin/login's). */
function presented(req: Request): { bearer?: string; session?: string } {
  const header = req.get('authorization');
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    // A header that is not a bearer token is refused as such, never ignored.
    return { bearer: m ? m[1]! : '' };
  }
  const session = cookie(req, SESSION_COOKIE);
  return session ? { session } : {};
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A session's request that would change something outside /admin without PAGE_HEADER: refused. */
function crossSiteRisk(req: Request, principal: Principal): boolean {
  if (principal.kind !== 'session' || SAFE_METHODS.has(req.method)) return false;
  const path = `${req.baseUrl}${req.path}`;
  return !path.startsWith('/admin') && req.get(PAGE_HEADER) === undefined;
}

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/**
 * Check the request against `access`: a 401 (with `WWW-Authenticate`) when its credential is
 * missing or refused, a 403 naming the scope it lacks; then count it against its workspace's
 * request rate (a 429 over it), unless `counted` is false (Bull Board's static files). Sets
 * its principal and scope.
 */
export async function authorize(req: Request, res: Response, access: Access, counted = true): Promise<void> {
  if (access === 'public') return;
  const locals = res.locals as Locals;
  if (!locals.auth) throw new Error('no authenticator: credentialRequests must run before the routes');
  const { authenticator, place, onRefused, admit } = locals.auth;
  let principal: Principal;
  try {
    principal = await authenticator.authenticate(presented(req));
  } catch (err) {
    if (!(err instanceof CredentialRefusal)) throw err;
    onRefused(req, err.message, 401);
    throw new HttpError(401, 'unauthorized', err.message, undefined, { 'WWW-Authenticate': 'Bearer realm="switchyard"' });
  }
  if (crossSiteRisk(req, principal)) {
    const message = `a request made with the session cookie must carry the header "${PAGE_HEADER}" to change anything (the run pages send it)`;
    onRefused(req, message, 403, principal);
    throw new HttpError(403, 'forbidden', message);
  }
  if (!holds(principal, access)) {
    const message = `this credential lacks the scope "${access}" (it has ${principal.scopes.join(', ') || 'none'})`;
    onRefused(req, message, 403, principal);
    throw new HttpError(403, 'forbidden', message);
  }
  const scope = place(principal.workspace);
  if (counted) await admit(scope);
  locals.principal = principal;
  locals.scope = scope;
}

/** The scope `authorize` set for this request. */
export function requestScope(res: Response): Scope {
  const scope = (res.locals as Locals).scope;
  if (!scope) throw new Error('no request scope: the route must declare an access rule other than "public"');
  return scope;
}

/** The principal `authorize` set for this request. */
export function requestPrincipal(res: Response): Principal {
  const principal = (res.locals as Locals).principal;
  if (!principal) throw new Error('no request principal: the route must declare an access rule other than "public"');
  return principal;
}
