import type { Router } from 'express';
import type { RunQueries } from '../../query/run-queries.js';
import { requestScope } from '../scope.js';
import { apiRouter } from '../route.js';
import { StatsQuery } from '../schemas.js';
import { Insights } from '../insight-responses.js';

/** GET /v1/insights: what the runs of a window teach, per agent and workflow (see src/query/insights.ts). */
export function insightsRouter({ queries }: { queries: RunQueries }): Router {
  const r = apiRouter();
  r.get(
    '/',
    'runs:read',
    {
      summary: 'Per agent and workflow: success rate, time, cost and rating trends, the most common failure reasons, and suggestions',
      description:
        "Over the runs created in the window (default: the last 24 hours) that Redis still keeps. Failure reasons are classified by the error each failed step ended with; a reason of at least a tenth of an agent's calls (or a workflow's runs) gives a suggestion.",
      query: StatsQuery,
      responses: { 200: Insights },
    },
    async (_req, res, { query }) => {
      res.json(await queries.insights(requestScope(res), query));
    },
  );
  return r.router;
}
