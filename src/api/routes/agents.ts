import { Router } from 'express';
import type { System } from '../../system.js';

export function agentsRouter(system: System): Router {
  const r = Router();
  r.get('/', (_req, res) => {
    res.json({ agents: system.registry.toPublic() });
  });
  return r;
}
