import { Router } from 'express';
import type { AgentRegistry } from '../../agents/registry.js';
import { parseOr422 } from '../errors.js';
import { AgentsQuery } from '../schemas.js';

export function agentsRouter({ registry }: { registry: AgentRegistry }): Router {
  const r = Router();
  r.get('/', (req, res) => {
    const { include } = parseOr422(AgentsQuery, req.query, 'query');
    res.json({ agents: registry.toPublic({ prompts: include.includes('prompts') }) });
  });
  return r;
}
