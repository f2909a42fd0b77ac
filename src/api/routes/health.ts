import { Router } from 'express';
import type { System } from '../../system.js';

export function healthRouter(system: System, extra: Record<string, () => Promise<boolean>>): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    // All checks at once: /readyz answers within the slowest check, not their sum.
    const named = Object.entries({ redis: () => system.ping(), ...extra });
    const results = await Promise.all(named.map(([, check]) => check().catch(() => false)));
    const checks: Record<string, boolean> = Object.fromEntries(named.map(([name], i) => [name, results[i] === true]));
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  });
  return r;
}
