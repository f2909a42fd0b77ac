import type { Router } from 'express';
import { ScheduleBody, type SchedulesService } from '../../schedules/schedules-service.js';
import type { Auditor } from '../audit.js';
import { parseOr422 } from '../errors.js';
import { apiRouter } from '../route.js';
import { requestKeyId, requestScope } from '../scope.js';

/** A workspace's schedules: another workspace's are neither listed nor found. */
export function schedulesRouter({ schedules, audit }: { schedules: SchedulesService; audit: Auditor }): Router {
  const r = apiRouter();
  r.get('/', 'runs:read', async (_req, res) => {
    res.json({ schedules: await schedules.list(requestScope(res)) });
  });
  r.get('/:id', 'runs:read', async (req, res) => {
    res.json(await schedules.get(requestScope(res), req.params.id!));
  });
  r.put('/:id', 'schedules:write', async (req, res) => {
    // The id is checked by the service (422 naming `id`).
    const body = parseOr422(ScheduleBody, req.body ?? {});
    const view = await schedules.put(requestScope(res), req.params.id!, body, requestKeyId(res));
    await audit(req, res, { action: 'schedule.changed', target: view.id, details: { workflow: view.workflow, cron: view.cron, tz: view.tz } });
    res.json(view);
  });
  r.delete('/:id', 'schedules:write', async (req, res) => {
    await schedules.remove(requestScope(res), req.params.id!);
    await audit(req, res, { action: 'schedule.removed', target: req.params.id! });
    res.status(204).end();
  });
  return r.router;
}
