import { Router } from 'express';
import { ScheduleBody, ScheduleId } from '../../schedules/schedules-service.js';
import type { System } from '../../system.js';
import { parseOr422 } from '../errors.js';

export function schedulesRouter(system: System): Router {
  const r = Router();
  r.get('/', async (_req, res) => {
    res.json({ schedules: await system.schedules.list() });
  });
  r.get('/:id', async (req, res) => {
    res.json(await system.schedules.get(req.params.id));
  });
  r.put('/:id', async (req, res) => {
    const id = parseOr422(ScheduleId, req.params.id, 'id');
    const body = parseOr422(ScheduleBody, req.body ?? {});
    res.json(await system.schedules.put(id, body));
  });
  r.delete('/:id', async (req, res) => {
    await system.schedules.remove(req.params.id);
    res.status(204).end();
  });
  return r;
}
