/**
 * boot() while it starts: the reserved port answers /healthz 200 from the first moment (a
 * liveness probe must not restart a process that waits for Redis) and /readyz 503; a start-up
 * that fails at any point, the System's construction included, closes the port it took.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { boot } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config/env.js';
import { StartupError } from '../../src/errors/index.js';
import { silentLogger } from '../../src/logger.js';
import { REDIS_URL, testPrefix } from '../helpers/redis.js';

// A System that cannot be built (the second test); the first never gets that far.
vi.mock('../../src/system.js', () => ({
  System: class {
    constructor() {
      throw new Error('the System could not be built');
    }
  },
}));

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

/** Whether `port` can be bound again (the process closed it). */
async function bindable(port: number): Promise<boolean> {
  const probe = createServer();
  probe.listen(port);
  const [event] = await Promise.race([once(probe, 'listening').then(() => ['listening']), once(probe, 'error').then(() => ['error'])]);
  if (event === 'listening') await new Promise<void>((r) => probe.close(() => r()));
  return event === 'listening';
}

const config = (env: Record<string, string>) =>
  loadConfig({ SWITCHYARD_PREFIX: testPrefix('boot'), SWITCHYARD_AGENTS: 'agents.yaml', SWITCHYARD_FLOWS: 'flows', ...env });

describe('while it starts', () => {
  it('answers /healthz 200 (starting) and /readyz 503 while it waits for Redis, and frees the port when it gives up', async () => {
    const port = await freePort();
    const starting = boot(
      config({ REDIS_URL: 'redis://127.0.0.1:1', SWITCHYARD_REDIS_WAIT_MS: '3000', PORT: String(port) }),
      { api: true, workers: false },
      silentLogger,
    );
    const failed = starting.catch((err: unknown) => err);
    const base = `http://127.0.0.1:${port}`;
    await expect
      .poll(() =>
        fetch(`${base}/healthz`).then(
          (r) => r.status,
          () => 0,
        ),
      )
      .toBe(200);
    const health = await fetch(`${base}/healthz`);
    expect(await health.json()).toEqual({ status: 'starting' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'starting' });
    expect((await fetch(`${base}/v1/runs`)).status).toBe(503);
    expect(await failed).toBeInstanceOf(StartupError);
    expect(await bindable(port)).toBe(true);
  });

  it('closes the port when the System cannot be built', async () => {
    const port = await freePort();
    const err = await boot(config({ REDIS_URL, PORT: String(port) }), { api: true, workers: false }, silentLogger).catch((e: unknown) => e);
    expect(String(err)).toContain('the System could not be built');
    expect(await bindable(port)).toBe(true);
  });
});
