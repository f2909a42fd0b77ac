import type { Router } from 'express';
import type { RunQueries } from '../../query/run-queries.js';
import { requestScope } from '../scope.js';
import { apiRouter } from '../route.js';
import { StatsQuery } from '../schemas.js';
import { Stats } from '../responses.js';

/** GET /v1/stats: totals, per agent and per workflow performance, trends (see src/query/stats.ts). */
export function statsRouter({ queries }: { queries: RunQueries }): Router {
  const r = apiRouter();
  r.get(
    '/',
    'runs:read',
    { summary: 'Totals, per agent and per workflow performance, and trends over a time window', query: StatsQuery, responses: { 200: Stats } },
    async (_req, res, { query }) => {
      res.json(await queries.stats(requestScope(res), query));
    },
  );
  return r.router;
}
