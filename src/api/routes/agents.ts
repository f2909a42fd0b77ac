import { Router } from 'express';
import type { AgentRegistry } from '../../agents/registry.js';

export function agentsRouter({ registry }: { registry: AgentRegistry }): Router {
  const r = Router();
  r.get('/', (_req, res) => {
    res.json({ agents: registry.toPublic() });
  });
  return r;
}
