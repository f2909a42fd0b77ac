/**
 * The HTTP API (express). Routes are thin: validate with the zod schemas in schemas.ts, call
 * the service they are given, answer JSON. Every error goes through errors.ts. This module
 * wires the routes to the System's services; the routes never see the System itself.
 */
import { insightsRouter } from './routes/insights.js';
import { runMessagesRouter } from './routes/run-messages.js';
import { statsRouter } from './routes/stats.js';
import express, { type Express, type RequestHandler, type Router } from 'express';
import helmet from 'helmet';
import { DEFAULT_BOUNDS, type ApiRateConfig, type AuthConfig, type Bounds } from '../config/env.js';
import { DEFAULT_API_RATE } from '../config/api-env.js';
import { Authenticator, authMode } from '../auth/authenticator.js';
import { JwtVerifier } from '../auth/jwt.js';
import type { System } from '../system.js';
import { assertDepth, assertFieldSizes } from '../compile/bounds.js';
import { HttpError, errorHandler } from './errors.js';
import { apiRateLimit } from './rate-limit.js';
import { RefusalLog } from './refusals.js';
import { accessLog } from './access-log.js';
import { JSON_TYPES, jsonObjectBody } from './request-shape.js';
import { credentialRequests, type OnRefused } from './scope.js';
import { routedByScope } from './cell-routing.js';
import { adminRouter, BOARD_PATH } from './routes/admin.js';
import { auditorOf, refusalsAuditedIn } from './audit.js';
import { auditRouter } from './routes/audit.js';
import { keysRouter } from './routes/keys.js';
import { workspaceEnvelopesRouter } from './routes/workspace-envelopes.js';
import { agentsRouter } from './routes/agents.js';
import { healthRouter } from './routes/health.js';
import { limitsRouter } from './routes/limits.js';
import { workspaceLimitsRouter } from './routes/workspace-limits.js';
import { webhooksRouter } from './routes/webhooks.js';
import { workspaceSecretsRouter } from './routes/workspace-secrets.js';
import { chatRouter } from './routes/chat.js';
import { sessionsRouter } from './routes/sessions.js';
import { runsRouter } from './routes/runs.js';
import { schedulesRouter } from './routes/schedules.js';
import { workflowsRouter } from './routes/workflows.js';
import { docsRouter } from './routes/docs.js';
import { declaredRoutes } from './route.js';
import { openApiDocument, type MountedRoute } from './openapi.js';
import { meRouter } from './routes/me.js';
import { pagesRouter } from './routes/pages.js';

export interface AppOptions {
  /** Largest JSON body accepted (body-parser syntax, e.g. "1mb"). */
  bodyLimit: string;
  /** Extra readiness checks (e.g. MongoDB), by name. */
  readiness?: Record<string, () => Promise<boolean>>;
  /** Fires when the process shuts down: open event streams end so the server can close. */
  shutdownSignal?: AbortSignal;
  /** Bounds on request bodies (default: the configuration's defaults). */
  bounds?: Bounds;
  /** Who may call it (default: not production, no JWT: open until the first API key is made). */
  auth?: AuthConfig;
  /** Told of every refused credential (default: the audit log). */
  onRefused?: OnRefused;
  /** Each workspace's request rate (default: DEFAULT_API_RATE). */
  apiRate?: ApiRateConfig;
}

/** The authenticator a configuration asks for, on the system's keys and sessions. */
export function authenticatorOf(system: System, auth: AuthConfig = { production: false, devOpen: false }): Authenticator {
  return new Authenticator({
    mode: authMode(auth),
    keys: system.keys,
    sessions: system.sessions,
    jwt: auth.jwt ? new JwtVerifier(auth.jwt) : undefined,
  });
}

/** helmet's headers; Bull Board's page runs inline scripts, so it goes without a content security policy. */
function securityHeaders(): RequestHandler {
  const api = helmet();
  const board = helmet({ contentSecurityPolicy: false });
  return (req, res, next) => (req.path.startsWith(BOARD_PATH) ? board : api)(req, res, next);
}

export function createApp(system: System, opts: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use(accessLog(system.logger));
  app.use(securityHeaders());
  // Every router is mounted through this: its declared routes are what GET /openapi.json describes.
  const routes: MountedRoute[] = [];
  const mount = (prefix: string, router: Router) => {
    for (const r of declaredRoutes(router)) routes.push({ ...r, path: prefix && r.path === '/' ? prefix : `${prefix}${r.path}` });
    app.use(prefix || '/', router);
  };
  const refusals = new RefusalLog(system.logger);
  // Every route checks its declared access through the authenticator (scope.ts), then its workspace's request rate.
  const onRefused = opts.onRefused ?? refusalsAuditedIn(system.audit, system.logger);
  const admit = apiRateLimit(system.api.redis, opts.apiRate ?? DEFAULT_API_RATE, refusals);
  // A request's scope is its workspace's, in the workspace's cell.
  app.use(credentialRequests(authenticatorOf(system, opts.auth), (workspace) => system.scope(workspace), onRefused, admit));
  const audit = auditorOf(system.audit, system.logger);
  // Before the JSON body checks: the login form is URL-encoded, and Bull Board parses its own bodies.
  mount(
    '',
    adminRouter({
      queues: system.allQueues(),
      sessions: system.sessions,
      production: opts.auth?.production ?? false,
      metrics: async () => ({ type: system.metrics.contentType, text: await system.metrics.text() }),
    }),
  );

  // Any JSON value is parsed: one that is not an object gets its own message (jsonObjectBody).
  app.use(express.json({ limit: opts.bodyLimit, strict: false, type: JSON_TYPES }));
  app.use(jsonObjectBody);
  // Bounded before any route walks the body (zod, the compiler, templates recurse into it).
  const { maxJsonDepth, maxFieldBytes } = opts.bounds ?? DEFAULT_BOUNDS;
  app.use((req, _res, next) => {
    assertDepth(req.body, maxJsonDepth);
    assertFieldSizes(req.body, maxFieldBytes);
    next();
  });
  mount(
    '',
    healthRouter({
      checks: { redis: () => system.ping(), ...opts.readiness },
      unservedAgents: () => system.unservedAgents(),
      pausedScopes: pausedForReadiness(system),
    }),
  );
  // Each service call goes to the cell of the request's workspace (cell-routing.ts).
  const submissions = routedByScope(system, (s) => s.api.submissions);
  const queries = routedByScope(system, (s) => s.api.queries);
  const actions = routedByScope(system, (s) => s.api.actions);
  const agents = routedByScope(system, (s) => s.api.agents);
  const webhooks = routedByScope(system, (s) => s.api.webhooks);
  const { maxWaitSeconds } = opts.bounds ?? DEFAULT_BOUNDS;
  mount('/v1/runs', runsRouter({ submissions, webhooks, queries, actions, audit, shutdownSignal: opts.shutdownSignal, maxWaitSeconds }));
  mount('/v1/chat', chatRouter({ submissions, webhooks, queries, audit, shutdownSignal: opts.shutdownSignal, maxWaitSeconds }));
  const conversations = routedByScope(system, (s) => s.api.conversations);
  mount('/v1/sessions', sessionsRouter({ conversations, audit, maxWaitSeconds, shutdownSignal: opts.shutdownSignal }));
  mount('/v1/agents', agentsRouter({ agents, audit }));
  mount('/v1/runs', runMessagesRouter({ queries }));
  mount('/v1/stats', statsRouter({ queries }));
  mount('/v1/insights', insightsRouter({ queries }));
  mount('/v1/workflows', workflowsRouter({ workflows: system.workflows, agents }));
  mount('/v1/schedules', schedulesRouter({ schedules: routedByScope(system, (s) => s.schedules), audit }));
  mount('/v1/keys', keysRouter({ keys: system.keys, audit }));
  mount('/v1/workspaces', workspaceEnvelopesRouter({ envelopes: system.api.store.envelopes, keys: system.keys, cell: system.cell, audit }));
  mount('/v1/audit', auditRouter({ audit: system.audit }));
  mount('/v1/limits', limitsRouter({ limits: system.limits }));
  mount('/v1/workspaces', workspaceLimitsRouter({ caps: system.api.caps, scope: (ws) => system.scope(ws), audit }));
  mount('/v1/workspaces', workspaceSecretsRouter({ secrets: system.api.secrets, scope: (ws) => system.scope(ws), audit }));
  mount('/v1/webhooks', webhooksRouter({ webhooks, audit }));
  mount('/v1/me', meRouter());
  mount('', pagesRouter());
  mount(
    '',
    docsRouter(() => openApiDocument(routes)),
  );
  app.use((req, _res, next) => next(new HttpError(404, 'not_found', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(system.logger, refusals));
  return app;
}

/** The paused scopes as /readyz shows them: which, until when, whether for a spent quota (the provider's message only on GET /v1/limits). */
function pausedForReadiness(system: System) {
  return async () => (await system.limits.paused()).map(({ scope, until, quotaExhausted }) => ({ scope, until, quotaExhausted }));
}
