import type { Router } from 'express';
import { NotFoundError, ValidationError } from '../../errors/index.js';
import type { WorkflowCatalog } from '../../compile/catalog.js';
import { apiRouter } from '../route.js';
import { WorkflowList, WorkflowValidation } from '../admin-responses.js';
import { CompiledWorkflow, WorkflowDefinition, WorkflowName } from '../../kinds/definition.js';
import { requestScope } from '../scope.js';
import type { WorkspaceAgents } from '../../agents/workspace-agents.js';

/** `agents`: those a request's workspace sees (its own, then the shared ones), for an inline definition. */
export function workflowsRouter({ workflows, agents }: { workflows: WorkflowCatalog; agents: WorkspaceAgents }): Router {
  const r = apiRouter();
  r.get('/', 'runs:read', { summary: 'The workflows of flows/, compiled', responses: { 200: WorkflowList } }, (_req, res) => {
    res.json({ workflows: workflows.list() });
  });
  r.post(
    '/validate',
    'runs:read',
    {
      summary: 'Compile a workflow definition without running it: 422 naming each problem',
      body: WorkflowDefinition,
      parseBody: (raw) => raw,
      responses: { 200: WorkflowValidation },
    },
    async (req, res, { body }) => {
      let workflow;
      try {
        // Against the shared agents first: most definitions name only those, and need no read.
        workflow = await workflows.validate(body);
      } catch (err) {
        // It may name the workspace's own agents: compiled again against them (the same issues otherwise).
        if (!(err instanceof ValidationError)) throw err;
        workflow = await workflows.validate(body, await agents.registryFor(requestScope(res)));
      }
      res.json({ valid: true, workflow });
    },
  );
  r.get('/:name', 'runs:read', { summary: 'One workflow, compiled', params: { name: WorkflowName }, responses: { 200: CompiledWorkflow } }, (req, res) => {
    const name = req.params.name!;
    const wf = workflows.get(name);
    if (!wf) throw new NotFoundError(`workflow "${name}" not found`);
    res.json(wf);
  });
  return r.router;
}
