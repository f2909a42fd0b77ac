import type { Router } from 'express';
import { apiRouter } from '../route.js';
import { Liveness, Readiness } from '../admin-responses.js';

export interface HealthRouterDeps {
  /** Readiness checks by name (redis, mongodb...); a check that throws counts as false. */
  checks: Record<string, () => Promise<boolean>>;
  /**
   * Agents no live worker serves: named in /readyz (their runs wait), without making this
   * process unready (an API-only process is ready without workers).
   */
  unservedAgents?: () => Promise<string[]>;
  /**
   * Limiter scopes paused now (a 429, an overload, a spent quota): named in /readyz without
   * making this process unready (other models and fallbacks still answer; the pause ends by
   * itself or with POST /v1/limits/:scope/resume).
   */
  pausedScopes?: () => Promise<unknown[]>;
}

export function healthRouter({ checks, unservedAgents, pausedScopes }: HealthRouterDeps): Router {
  const r = apiRouter();
  r.get('/healthz', 'public', { summary: 'Liveness: the process answers', responses: { 200: Liveness } }, (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', 'public', { summary: 'Readiness: Redis (and MongoDB) answer', responses: { 200: Readiness, 503: Readiness } }, async (_req, res) => {
    // All checks at once: /readyz answers within the slowest check, not their sum.
    const named = Object.entries(checks);
    const results = await Promise.all(named.map(([, check]) => check().catch(() => false)));
    const status: Record<string, boolean> = Object.fromEntries(named.map(([name], i) => [name, results[i] === true]));
    const ready = Object.values(status).every(Boolean);
    const [unserved, paused] = ready ? await Promise.all([unservedAgents?.().catch(() => undefined), pausedScopes?.().catch(() => undefined)]) : [];
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not_ready',
      checks: status,
      ...(unserved ? { unservedAgents: unserved } : {}),
      ...(paused ? { pausedScopes: paused } : {}),
    });
  });
  return r.router;
}
