/**
 * The HTTP API (express). Routes are thin: validate with the zod schemas in schemas.ts, call
 * the service they are given, answer JSON. Every error goes through errors.ts. This module
 * wires the routes to the System's services; the routes never see the System itself.
 */
import { statsRouter } from './routes/stats.js';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { type Express } from 'express';
import { DEFAULT_BOUNDS, type Bounds } from '../config/env.js';
import type { System } from '../system.js';
import { assertDepth } from '../compile/bounds.js';
import { HttpError, errorHandler } from './errors.js';
import { JSON_TYPES, jsonObjectBody } from './request-shape.js';
import { scopeRequests } from './scope.js';
import { agentsRouter } from './routes/agents.js';
import { healthRouter } from './routes/health.js';
import { limitsRouter } from './routes/limits.js';
import { chatRouter } from './routes/chat.js';
import { runsRouter } from './routes/runs.js';
import { schedulesRouter } from './routes/schedules.js';
import { workflowsRouter } from './routes/workflows.js';

export interface AppOptions {
  /** Largest JSON body accepted (body-parser syntax, e.g. "1mb"). */
  bodyLimit: string;
  /** Extra readiness checks (e.g. MongoDB), by name. */
  readiness?: Record<string, () => Promise<boolean>>;
  /** Fires when the process shuts down: open event streams end so the server can close. */
  shutdownSignal?: AbortSignal;
  /** Bounds on request bodies (default: the configuration's defaults). */
  bounds?: Bounds;
}

export function createApp(system: System, opts: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  const board = new ExpressAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({ queues: system.allQueues().map((q) => new BullMQAdapter(q)), serverAdapter: board });
  // bull-board types its router `any`; it is an express app.
  app.use('/admin/queues', board.getRouter() as Express);

  // Any JSON value is parsed: one that is not an object gets its own message (jsonObjectBody).
  app.use(express.json({ limit: opts.bodyLimit, strict: false, type: JSON_TYPES }));
  app.use(jsonObjectBody);
  // Bounded before any route walks the body (zod, the compiler, templates recurse into it).
  const maxDepth = (opts.bounds ?? DEFAULT_BOUNDS).maxJsonDepth;
  app.use((req, _res, next) => {
    assertDepth(req.body, maxDepth);
    next();
  });
  // Every request acts in one scope, set here (see scope.ts).
  app.use(scopeRequests(system.cell));
  app.use(
    healthRouter({
      checks: { redis: () => system.ping(), ...opts.readiness },
      unservedAgents: () => system.unservedAgents(),
      pausedScopes: pausedForReadiness(system),
    }),
  );
  app.get('/metrics', async (_req, res) => {
    res.type(system.metrics.contentType).send(await system.metrics.text());
  });
  const { submissions, queries, actions } = system.api;
  app.use('/v1/runs', runsRouter({ submissions, queries, actions, shutdownSignal: opts.shutdownSignal }));
  app.use('/v1/chat', chatRouter({ submissions }));
  app.use('/v1/agents', agentsRouter({ agents: system.api.agents }));
  app.use('/v1/stats', statsRouter({ queries }));
  app.use('/v1/workflows', workflowsRouter({ workflows: system.workflows, agents: system.api.agents }));
  app.use('/v1/schedules', schedulesRouter({ schedules: system.schedules }));
  app.use('/v1/limits', limitsRouter({ limits: system.limits }));
  app.use((req, _res, next) => next(new HttpError(404, 'not_found', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(system.logger));
  return app;
}

/** The paused scopes as /readyz shows them: which, until when, whether for a spent quota (the provider's message only on GET /v1/limits). */
function pausedForReadiness(system: System) {
  return async () => (await system.limits.paused()).map(({ scope, until, quotaExhausted }) => ({ scope, until, quotaExhausted }));
}
