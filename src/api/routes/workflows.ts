import type { Router } from 'express';
import { NotFoundError } from '../../errors/index.js';
import type { WorkflowCatalog } from '../../compile/catalog.js';
import { apiRouter } from '../route.js';

export function workflowsRouter({ workflows }: { workflows: WorkflowCatalog }): Router {
  const r = apiRouter();
  r.get('/', 'runs:read', (_req, res) => {
    res.json({ workflows: workflows.list() });
  });
  r.post('/validate', 'runs:read', async (req, res) => {
    const workflow = await workflows.validate(req.body);
    res.json({ valid: true, workflow });
  });
  r.get('/:name', 'runs:read', (req, res) => {
    const name = req.params.name!;
    const wf = workflows.get(name);
    if (!wf) throw new NotFoundError(`workflow "${name}" not found`);
    res.json(wf);
  });
  return r.router;
}
