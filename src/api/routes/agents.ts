import type { Router } from 'express';
import type { AgentRegistry } from '../../agents/registry.js';
import { apiRouter } from '../route.js';
import { AgentsQuery } from '../schemas.js';

export function agentsRouter({ registry }: { registry: AgentRegistry }): Router {
  const r = apiRouter();
  r.get('/', 'runs:read', AgentsQuery, (_req, res, { include }) => {
    res.json({ agents: registry.toPublic({ prompts: include.includes('prompts') }) });
  });
  return r.router;
}
