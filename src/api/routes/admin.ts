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

function boardAdapter(queue: Queue): BullMQAdapter {
  const adapter = new BullMQAdapter(queue, {
    readOnlyMode: true,
    externalJobUrl: (job) => {
      const runId = (job.data as JobJson['data'])?.runId ?? (job.returnvalue as { runId?: unknown } | undefined)?.runId;
      return typeof runId === 'string' ? { displayText: `run ${runId}`, href: `/v1/runs/${encodeURIComponent(runId)}` } : { href: '' };
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

const LOGIN_PAGE = `<!doctype html><meta charset="utf-8"><title>Switchyard admin</title>
<form method="post" action="/admin/login" style="font-family:sans-serif;max-width:28em;margin:4em auto">
<h1>Switchyard admin</h1><p>An API key (or token) with the <code>admin</code> scope:</p>
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
  createBullBoard({ queues: deps.queues.map(boardAdapter), serverAdapter: board });

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
    { summary: 'The login page of Bull Board (the queue dashboard)', responses: { 200: page('The login form') } },
    (_req, res) => {
      res.type('html').send(LOGIN_PAGE);
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
  r.post(
    '/admin/login',
    'admin',
    {
      summary: 'Log in to Bull Board: the form field `key` (an admin key or token) is checked, then a session cookie is set',
      responses: { 303: { schema: null, contentType: 'text/html', description: 'To the board, with the session cookie' }, 400: ErrorBody },
    },
    async (_req, res) => {
      const token = await deps.sessions.create(requestPrincipal(res));
      res.cookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: deps.production, path: '/admin', maxAge: SESSION_TTL_MS });
      res.redirect(303, BOARD_PATH);
    },
  );
  r.post('/admin/logout', 'public', { summary: "End Bull Board's session", responses: { 204: null } }, async (req, res) => {
    const token = /(?:^|;\s*)sy_session=([^;]+)/.exec(req.get('cookie') ?? '')?.[1];
    if (token) await deps.sessions.end(decodeURIComponent(token));
    res.clearCookie(SESSION_COOKIE, { path: '/admin' }).status(204).end();
  });
  // bull-board types its router `any`; it is an express app.
  r.router.use(BOARD_PATH, guard, board.getRouter() as Express);
  return r.router;
}
