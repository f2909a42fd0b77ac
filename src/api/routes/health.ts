import { Router } from 'express';

export interface HealthRouterDeps {
  /** Readiness checks by name (redis, mongodb...); a check that throws counts as false. */
  checks: Record<string, () => Promise<boolean>>;
}

export function healthRouter({ checks }: HealthRouterDeps): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    // All checks at once: /readyz answers within the slowest check, not their sum.
    const named = Object.entries(checks);
    const results = await Promise.all(named.map(([, check]) => check().catch(() => false)));
    const status: Record<string, boolean> = Object.fromEntries(named.map(([name], i) => [name, results[i] === true]));
    const ready = Object.values(status).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: status });
  });
  return r;
}
