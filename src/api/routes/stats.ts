import type { Router } from 'express';
import type { RunsService } from '../../submit/runs-service.js';
import { DEFAULT_WORKSPACE } from '../../model/run.js';
import { apiRouter } from '../route.js';
import { StatsQuery } from '../schemas.js';

/** GET /v1/stats: totals, per agent and per workflow performance, trends (see src/query/stats.ts). */
export function statsRouter({ runs }: { runs: RunsService }): Router {
  const r = apiRouter();
  r.get('/', StatsQuery, async (_req, res, query) => {
    res.json(await runs.stats({ ...query, workspaceId: DEFAULT_WORKSPACE }));
  });
  return r.router;
}
