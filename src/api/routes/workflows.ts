import { Router } from 'express';
import { NotFoundError } from '../../errors/index.js';
import type { WorkflowCatalog } from '../../workflows/catalog.js';

export function workflowsRouter({ workflows }: { workflows: WorkflowCatalog }): Router {
  const r = Router();
  r.get('/', (_req, res) => {
    res.json({ workflows: workflows.list() });
  });
  r.post('/validate', async (req, res) => {
    const workflow = await workflows.validate(req.body);
    res.json({ valid: true, workflow });
  });
  r.get('/:name', (req, res) => {
    const wf = workflows.get(req.params.name);
    if (!wf) throw new NotFoundError(`workflow "${req.params.name}" not found`);
    res.json(wf);
  });
  return r;
}
