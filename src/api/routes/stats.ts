import { Router } from 'express';
import type { RunsService } from '../../runs/runs-service.js';
import { DEFAULT_WORKSPACE } from '../../runs/types.js';
import { parseOr422 } from '../errors.js';
import { StatsQuery } from '../schemas.js';

/** GET /v1/stats: totals, per agent and per workflow performance, trends (see src/runs/stats.ts). */
export function statsRouter({ runs }: { runs: RunsService }): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    res.json(await runs.stats({ ...parseOr422(StatsQuery, req.query, 'query'), workspaceId: DEFAULT_WORKSPACE }));
  });
  return r;
}
