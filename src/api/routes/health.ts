import { Router } from 'express';
import type { System } from '../../system.js';

export function healthRouter(system: System, extra: Record<string, () => Promise<boolean>>): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const checks: Record<string, boolean> = { redis: await system.ping() };
    for (const [name, check] of Object.entries(extra)) checks[name] = await check().catch(() => false);
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  });
  return r;
}
