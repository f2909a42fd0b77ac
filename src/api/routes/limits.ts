import type { Router } from 'express';
import type { LimitsAdmin } from '../../calls/admission/admin.js';
import { parseOr422 } from '../errors.js';
import { apiRouter } from '../route.js';
import { PausedList, ResumeAnswer } from '../admin-responses.js';
import { LimitScopeParam } from '../schemas.js';

/**
 * The shared limiter's pauses: GET lists the scopes paused after a 429, an overload or a spent
 * quota; POST /:scope/resume lifts one (404 when it is not paused).
 */
export function limitsRouter({ limits }: { limits: LimitsAdmin }): Router {
  const r = apiRouter();
  r.get(
    '/',
    'admin',
    { summary: 'The limiter scopes paused now (after a 429, an overload, a spent quota)', responses: { 200: PausedList } },
    async (_req, res) => {
      res.json({ paused: await limits.paused() });
    },
  );
  r.post(
    '/:scope/resume',
    'admin',
    { summary: "Lift a scope's pause (404 when it is not paused)", params: { scope: LimitScopeParam }, responses: { 200: ResumeAnswer } },
    async (req, res) => {
      const scope = parseOr422(LimitScopeParam, req.params.scope, 'scope');
      res.json({ resumed: true, ...(await limits.resume(scope)) });
    },
  );
  return r.router;
}
