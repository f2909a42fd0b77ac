/**
 * A whole Switchyard on the real Redis for one test file: its own key prefix, its own agents
 * (echo, or the real SDKs pointed at the fake LLM server), optional worker pools and the HTTP
 * API on a loopback port. `close()` stops everything it started and deletes its keys;
 * `assertAllClosed()` fails a file that leaked a harness.
 */
import { UnavailableError } from '../../src/errors/index.js';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config/env.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import type { RunArchive } from '../../src/query/run-queries.js';
import type { RunView } from '../../src/query/run-view.js';
import { isTerminalRun } from '../../src/model/run.js';
import { type System } from '../../src/system.js';
import { systemFromDefinitions } from '../../src/system-definitions.js';
import { startWorkerPools, type WorkerPoolsOptions } from '../../src/engine/pools.js';
import { WEBHOOK_QUEUE } from '../../src/store/keys.js';
import type { FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { poll } from './poll.js';
import { REDIS_URL, cleanupPrefix, newRedis, testPrefix } from './redis.js';

export interface HarnessOptions {
  name: string;
  /** Agents file content (`agents:` map). */
  agents: Record<string, Record<string, unknown>>;
  /** The agents file's `pricing:` map. */
  pricing?: Record<string, unknown>;
  /** The agents file's `providers:` map (limits, breakers). */
  providers?: Record<string, unknown>;
  /** The agents file's `tools:` map (HTTP tools). */
  tools?: Record<string, unknown>;
  /** The agents file's `mcpServers:` map. */
  mcpServers?: Record<string, unknown>;
  /** Workflow definitions (as in flows/*.yaml). */
  workflows?: Record<string, unknown>[];
  fake?: FakeLlmServer;
  /** Start worker pools in this process: all agents (true), some, or none (false). Default true. */
  pools?: boolean | string[];
  /** Feed the outbox stream. Default false. */
  outbox?: boolean;
  /** Where runs past Redis retention are read from (MongoDB in production). */
  archive?: RunArchive;
  /** Safety delay of ref jobs, ms (default 30 s). */
  refSafetyDelayMs?: number;
  /** Options of the worker pools it starts. */
  poolOptions?: Omit<WorkerPoolsOptions, 'agents'>;
  /** Largest request body of its API (default 100kb). */
  bodyLimit?: string;
  /** Another Redis than the shared one (a test that stops and restarts its own). */
  redisUrl?: string;
  /** More environment for its configuration (SWITCHYARD_* limits...). */
  env?: Record<string, string>;
  /** Where its logs go (default: nowhere). */
  logger?: Logger;
}

export interface Harness {
  prefix: string;
  system: System;
  baseUrl: string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  /** Poll GET /v1/runs/:id until the run has finished. */
  waitForRun(id: string, timeoutMs?: number): Promise<RunView>;
  /** Poll until `predicate(run)` holds. */
  waitUntil(id: string, predicate: (run: RunView) => boolean, timeoutMs?: number): Promise<RunView>;
  close(): Promise<void>;
}

const open = new Set<string>();

export async function startHarness(opts: HarnessOptions): Promise<Harness> {
  const prefix = testPrefix(opts.name);
  const config = loadConfig({
    REDIS_URL: opts.redisUrl ?? REDIS_URL,
    SWITCHYARD_PREFIX: prefix,
    ...(opts.fake
      ? { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: opts.fake.anthropicBaseURL, OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: opts.fake.openaiBaseURL }
      : {}),
    ...opts.env,
  });
  const system = systemFromDefinitions({
    config,
    agents: opts.agents,
    ...(opts.pricing ? { pricing: opts.pricing } : {}),
    ...(opts.providers ? { providers: opts.providers } : {}),
    ...(opts.tools ? { tools: opts.tools } : {}),
    ...(opts.mcpServers ? { mcpServers: opts.mcpServers } : {}),
    ...(opts.workflows ? { workflows: opts.workflows } : {}),
    source: opts.name,
    logger: opts.logger ?? silentLogger,
    retentionSeconds: 3600,
    outbox: opts.outbox ?? false,
    ...(opts.archive ? { archive: opts.archive } : {}),
    ...(opts.refSafetyDelayMs ? { refSafetyDelayMs: opts.refSafetyDelayMs } : {}),
  });
  const poolsOpt = opts.pools ?? true;
  const pools = poolsOpt === false ? undefined : await startWorkerPools(system, { ...opts.poolOptions, ...(poolsOpt === true ? {} : { agents: poolsOpt }) });

  const app = createApp(system, { bodyLimit: opts.bodyLimit ?? '100kb', bounds: config.bounds, auth: config.auth, apiRate: config.apiRate });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  open.add(prefix);
  // The API fails fast (503) until its connection to Redis is up: a test's first request must not race its handshake.
  await poll(
    'the API to be ready (GET /readyz)',
    () => fetch(`${baseUrl}/readyz`).then((r) => r.status),
    (status) => status === 200,
    {
      timeoutMs: 20_000,
      intervalMs: 10,
    },
  ).catch(async (err: unknown) => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await pools?.close(5_000);
    await system.close();
    open.delete(prefix);
    throw err;
  });

  const request: Harness['request'] = async (method, path, body, headers = {}) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };

  // The default bound is for a busy machine: it returns as soon as the run is there. The API's
  // commands fail fast (API_COMMAND_TIMEOUT_MS); on a machine busy enough for one to time out,
  // the read is made again, as the 503 it would be asks a client to.
  const waitUntil: Harness['waitUntil'] = async (id, predicate, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await system.api.queries.get(system.scope(), id).catch((err: unknown) => {
        if (err instanceof UnavailableError && Date.now() < deadline) return undefined;
        throw err;
      });
      if (run === undefined) continue;
      if (predicate(run)) return run;
      if (Date.now() > deadline)
        throw new Error(
          `run ${id} did not reach the expected state in ${timeoutMs} ms (status ${run.status}: ${JSON.stringify(run.steps.map((s) => [s.stepId, s.status]))})`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  return {
    prefix,
    system,
    baseUrl,
    request,
    waitUntil,
    waitForRun: (id, timeoutMs) => waitUntil(id, (r) => isTerminalRun(r.status), timeoutMs),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await pools?.close(5_000);
      await system.close();
      const redis = newRedis(opts.redisUrl);
      await cleanupPrefix(redis, prefix);
      await redis.quit();
      open.delete(prefix);
    },
  };
}

/** Call in afterAll: a harness left open is a leaked worker/connection. */
export function assertAllClosed(): void {
  expect([...open], 'harnesses left open').toEqual([]);
}

/** Count jobs of a run still sitting in any BullMQ state but completed/failed. */
export async function liveJobsOf(system: System, runId: string): Promise<string[]> {
  const live: string[] = [];
  for (const q of system.allQueues()) {
    const jobs = await q.getJobs(['waiting', 'waiting-children', 'delayed', 'active', 'prioritized'], 0, -1);
    for (const j of jobs) if (j?.id?.startsWith(runId)) live.push(`${q.name}:${j.id}`);
  }
  return live;
}

/** Wait until BullMQ holds no live job of the run; fail naming the jobs still live (a bound for a busy machine: it returns as soon as none is). */
export async function expectNoLiveJobs(system: System, runId: string, timeoutMs = 15_000): Promise<void> {
  const live = await poll(
    `no live jobs of ${runId}`,
    () => liveJobsOf(system, runId),
    (l) => l.length === 0,
    { timeoutMs },
  ).catch(async (err: unknown) => {
    const left = await liveJobsOf(system, runId);
    if (left.length === 0) throw err; // timed out, yet empty now: still a failure, never a pass
    return left;
  });
  expect(live, 'jobs of the run still live in BullMQ').toEqual([]);
}

/**
 * Wait until the `webhooks` queue holds no job waiting, running or backing off for a retry:
 * every delivery queued so far has been made (or given up), and none is still to come of it.
 */
export async function webhooksSettled(system: System, timeoutMs = 15_000): Promise<void> {
  await poll(
    'the webhooks queue to drain',
    () => system.queue(WEBHOOK_QUEUE).getJobCounts('waiting', 'active', 'delayed', 'prioritized'),
    (c) => Object.values(c).every((n) => n === 0),
    { timeoutMs },
  );
}
