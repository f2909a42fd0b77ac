import type { Router } from 'express';
import type { LimitsAdmin } from '../../calls/admission/admin.js';
import { parseOr422 } from '../errors.js';
import { apiRouter } from '../route.js';
import { LimitScopeParam } from '../schemas.js';

/**
 * The shared limiter's pauses: GET lists the scopes paused after a 429, an overload or a spent
 * quota; POST /:scope/resume lifts one (404 when it is not paused).
 */
export function limitsRouter({ limits }: { limits: LimitsAdmin }): Router {
  const r = apiRouter();
  r.get('/', 'admin', async (_req, res) => {
    res.json({ paused: await limits.paused() });
  });
  r.post('/:scope/resume', 'admin', async (req, res) => {
    const scope = parseOr422(LimitScopeParam, req.params.scope, 'scope');
    res.json({ resumed: true, ...(await limits.resume(scope)) });
  });
  return r.router;
}
