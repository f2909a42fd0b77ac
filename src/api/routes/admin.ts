/**
 * The operator's pages: Bull Board under /admin/queues and GET /metrics, both for `admin`
 * credentials (a bearer header, or the session cookie that /admin/login sets). Every engine
 * queue is mounted read-only: Bull Board's retry, promote, clean, obliterate, pause and
 * concurrency buttons would change jobs behind the step machine's back (they answer 405).
 * Each job links to its run, and a step that ended cancelled, skipped or failed says so in its
 * name instead of reading as a plain success.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import type { Queue } from 'bullmq';
import { z } from 'zod';
import type { AdminSessions } from '../../auth/sessions.js';
import { SESSION_TTL_MS } from '../../auth/sessions.js';
import { HttpError } from '../errors.js';
import { ErrorBody } from '../responses.js';
import { apiRouter } from '../route.js';
import { authorize, requestPrincipal, SESSION_COOKIE } from '../scope.js';

export const BOARD_PATH = '/admin/queues';

interface JobJson {
  name?: string;
  data?: { runId?: unknown };
  returnValue?: unknown;
  returnvalue?: unknown;
}

/** A step job's outcome when it is not a plain success (its return value's `status`). */
function outcomeOf(job: JobJson): string | undefined {
  const value = (job.returnvalue ?? job.returnValue) as { status?: unknown } | undefined;
  const status = typeof value === 'object' && value !== null ? value.status : undefined;
  return typeof status === 'string' && status !== 'succeeded' ? status : undefined;
}

/** A job's name on the board: a step that ended cancelled, skipped or failed says so (BullMQ counts it completed). */
export function boardJobName(job: JobJson): string {
  const outcome = outcomeOf(job);
  return outcome ? `${job.name ?? ''} (${outcome})` : (job.name ?? '');
}

function boardAdapter(queue: Queue, cellLabel: string): BullMQAdapter {
  const adapter = new BullMQAdapter(queue, {
    readOnlyMode: true,
    // The same queue in another cell: named apart (cell 0's keep their names).
    ...(cellLabel ? { prefix: `${cellLabel}.` } : {}),
    externalJobUrl: (job) => {
      const runId = (job.data as JobJson['data'])?.runId ?? (job.returnvalue as { runId?: unknown } | undefined)?.runId;
      return typeof runId === 'string' ? { displayText: `run ${runId}`, href: `/runs/${encodeURIComponent(runId)}` } : { href: '' };
    },
  });
  adapter.setFormatter('name', boardJobName);
  return adapter;
}

/** Bull Board's static files (scripts, styles, icons), under BOARD_PATH: not counted against the request rate. */
const BOARD_STATIC = /^\/static\//;

/** A browser without a credential is sent to the login page; anything else gets the 401 as JSON. */
function guard(req: Request, res: Response, next: NextFunction): void {
  authorize(req, res, 'admin', !BOARD_STATIC.test(req.path)).then(
    () => next(),
    (err: unknown) => {
      if (err instanceof HttpError && err.status === 401 && req.method === 'GET' && req.accepts(['json', 'html']) === 'html')
        return res.redirect(303, '/admin/login');
      next(err);
    },
  );
}

/** Where a login may send the browser next: a page of this server (the board by default). */
const NEXT_PAGE = /^\/(?:runs(?:\/run_[0-9a-z]{1,40})?|admin\/queues)(?:\?[A-Za-z0-9_=&%.:,-]*)?$/;
const LoginQuery = z.object({ next: z.string().max(2000).optional() }).strict();
const nextPage = (next: unknown): string => (typeof next === 'string' && NEXT_PAGE.test(next) ? next : BOARD_PATH);
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const loginPage = (next: string) => `<!doctype html><meta charset="utf-8"><title>Switchyard login</title>
<form method="post" action="/admin/login" style="font-family:sans-serif;max-width:28em;margin:4em auto">
<h1>Switchyard login</h1><p>An API key (or token): <code>runs:read</code> for the run pages (<code>runs:write</code> for their buttons), <code>admin</code> for the queues.</p>
<input type="hidden" name="next" value="${escapeHtml(next)}">
<input name="key" type="password" autocomplete="off" style="width:100%" autofocus> <button>Log in</button></form>`;

/** Bull Board, its login, and /metrics. */
export function adminRouter(deps: {
  queues: Queue[];
  sessions: AdminSessions;
  production: boolean;
  metrics: () => Promise<{ type: string; text: string }>;
}): Router {
  const board = new ExpressAdapter();
  board.setBasePath(BOARD_PATH);
  // Cells by their queues' prefixes, in order: cell 0's queues come first (system.allQueues).
  const cells = [...new Set(deps.queues.map((q) => q.opts.prefix))];
  const label = (q: Queue) => (cells.indexOf(q.opts.prefix) > 0 ? `cell${cells.indexOf(q.opts.prefix)}` : '');
  createBullBoard({ queues: deps.queues.map((q) => boardAdapter(q, label(q))), serverAdapter: board });

  const r = apiRouter();
  const page = (description: string) => ({ schema: null, contentType: 'text/html', description });
  r.get(
    '/metrics',
    'admin',
    { summary: 'Prometheus metrics', responses: { 200: { schema: null, contentType: 'text/plain', description: 'The Prometheus text format' } } },
    async (_req, res) => {
      const { type, text } = await deps.metrics();
      res.type(type).send(text);
    },
  );
  r.get(
    '/admin/login',
    'public',
    { summary: 'The login page (Bull Board, the run pages)', query: LoginQuery, responses: { 200: page('The login form') } },
    (_req, res, { query: { next } }) => {
      res.type('html').send(loginPage(nextPage(next)));
    },
  );
  // The form posts `key`; the key is checked as a bearer credential, then only a session token goes in the cookie.
  r.router.post('/admin/login', express.urlencoded({ extended: false, limit: '8kb' }), (req, _res, next) => {
    const key = (req.body as { key?: unknown } | undefined)?.key;
    if (typeof key !== 'string' || key === '')
      return next(new HttpError(400, 'invalid_request', 'key: the form field "key" (an admin API key or token) is missing'));
    req.headers.authorization = `Bearer ${key.trim()}`;
    next();
  });
  // Any credential that may read runs logs in; the session keeps its scopes (the board still asks for admin).
  r.post(
    '/admin/login',
    'runs:read',
    {
      summary: 'Log in: the form field `key` (a key or token that may read runs) is checked, then a session cookie is set',
      responses: { 303: { schema: null, contentType: 'text/html', description: 'To `next` (default: the board), with the session cookie' }, 400: ErrorBody },
    },
    async (req, res) => {
      const token = await deps.sessions.create(requestPrincipal(res));
      res.cookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: deps.production, path: '/', maxAge: SESSION_TTL_MS });
      res.redirect(303, nextPage((req.body as { next?: unknown } | undefined)?.next));
    },
  );
  r.post('/admin/logout', 'public', { summary: "End the login's session", responses: { 204: null } }, async (req, res) => {
    const token = /(?:^|;\s*)sy_session=([^;]+)/.exec(req.get('cookie') ?? '')?.[1];
    if (token) await deps.sessions.end(decodeURIComponent(token));
    res.clearCookie(SESSION_COOKIE, { path: '/' }).status(204).end();
  });
  // bull-board types its router `any`; it is an express app.
  r.router.use(BOARD_PATH, guard, board.getRouter() as Express);
  return r.router;
}
