import { Router } from 'express';
import { NotFoundError } from '../../errors/index.js';
import type { System } from '../../system.js';

export function workflowsRouter(system: System): Router {
  const r = Router();
  r.get('/', (_req, res) => {
    res.json({ workflows: system.workflows.list() });
  });
  r.post('/validate', (req, res) => {
    const workflow = system.workflows.validate(req.body);
    res.json({ valid: true, workflow });
  });
  r.get('/:name', (req, res) => {
    const wf = system.workflows.get(req.params.name);
    if (!wf) throw new NotFoundError(`workflow "${req.params.name}" not found`);
    res.json(wf);
  });
  return r;
}
