import type { Router } from 'express';
import { ScheduleBody, type SchedulesService } from '../../schedules/schedules-service.js';
import { parseOr422 } from '../errors.js';
import { apiRouter } from '../route.js';

export function schedulesRouter({ schedules }: { schedules: SchedulesService }): Router {
  const r = apiRouter();
  r.get('/', async (_req, res) => {
    res.json({ schedules: await schedules.list() });
  });
  r.get('/:id', async (req, res) => {
    res.json(await schedules.get(req.params.id!));
  });
  r.put('/:id', async (req, res) => {
    // The id is checked by the service (422 naming `id`).
    const body = parseOr422(ScheduleBody, req.body ?? {});
    res.json(await schedules.put(req.params.id!, body));
  });
  r.delete('/:id', async (req, res) => {
    await schedules.remove(req.params.id!);
    res.status(204).end();
  });
  return r.router;
}
