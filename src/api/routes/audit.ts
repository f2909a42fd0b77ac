import type { Router } from 'express';
import type { AuditLog } from '../../audit/audit-log.js';
import { AuditQuery } from '../admin-schemas.js';
import { apiRouter } from '../route.js';
import { AuditPage } from '../admin-responses.js';

/** GET /v1/audit (`admin`): the audit log, newest first, filtered by workspace, action, actor, time; `next` pages on. */
export function auditRouter({ audit }: { audit: AuditLog }): Router {
  const r = apiRouter();
  r.get('/', 'admin', { summary: 'The audit log, newest first', query: AuditQuery, responses: { 200: AuditPage } }, async (_req, res, { query }) => {
    res.json(await audit.list(query));
  });
  return r.router;
}
