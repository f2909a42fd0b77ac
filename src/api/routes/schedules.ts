import type { Router } from 'express';
import { ScheduleBody, type SchedulesService } from '../../schedules/schedules-service.js';
import type { Auditor } from '../audit.js';
import { ScheduleList, ScheduleView } from '../admin-responses.js';
import { ErrorBody } from '../responses.js';
import { ScheduleId } from '../../model/schedule.js';
import { apiRouter } from '../route.js';
import { requestScope } from '../scope.js';

/** A workspace's schedules: another workspace's are neither listed nor found. */
export function schedulesRouter({ schedules, audit }: { schedules: SchedulesService; audit: Auditor }): Router {
  const r = apiRouter();
  const schedule = { id: ScheduleId };
  r.get('/', 'runs:read', { summary: "The workspace's schedules", responses: { 200: ScheduleList } }, async (_req, res) => {
    res.json({ schedules: await schedules.list(requestScope(res)) });
  });
  r.get('/:id', 'runs:read', { summary: 'One schedule', params: schedule, responses: { 200: ScheduleView } }, async (req, res) => {
    res.json(await schedules.get(requestScope(res), req.params.id!));
  });
  r.put(
    '/:id',
    'schedules:write',
    {
      summary: 'Create or replace a schedule: a workflow started on a cron pattern',
      params: schedule,
      body: ScheduleBody,
      responses: { 200: ScheduleView, 409: ErrorBody },
    },
    async (req, res, { body }) => {
      // The id is checked by the service (422 naming `id`).
      const view = await schedules.put(requestScope(res), req.params.id!, body);
      await audit(req, res, { action: 'schedule.changed', target: view.id, details: { workflow: view.workflow, cron: view.cron, tz: view.tz } });
      res.json(view);
    },
  );
  r.delete('/:id', 'schedules:write', { summary: 'Delete a schedule', params: schedule, responses: { 204: null, 409: ErrorBody } }, async (req, res) => {
    await schedules.remove(requestScope(res), req.params.id!);
    await audit(req, res, { action: 'schedule.removed', target: req.params.id! });
    res.status(204).end();
  });
  return r.router;
}
