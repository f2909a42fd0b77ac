import type { Router } from 'express';
import { apiRouter } from '../route.js';
import { requestPrincipal } from '../scope.js';
import { Me } from '../admin-responses.js';

/**
 * GET /v1/me: who the request acts as (how its credential proved itself, its workspace, its
 * scopes), so a page shows only the buttons its credential may use. Never the credential.
 */
export function meRouter(): Router {
  const r = apiRouter();
  r.get(
    '/',
    'runs:read',
    { summary: 'Who the request acts as: how its credential proved itself, its workspace, its scopes', responses: { 200: Me } },
    (_req, res) => {
      const { kind, workspace, scopes } = requestPrincipal(res);
      res.json({ kind, workspace, scopes });
    },
  );
  return r.router;
}
