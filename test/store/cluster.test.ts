/**
 * Cells on a real Redis Cluster: three masters started here on loopback ports, the API in this
 * process and the steps in a worker process, both in cluster mode with three cells. Runs of
 * workspaces placed in each cell complete, each cell's keys sit in its own slot (and the cells
 * on different nodes), the shared limiter's in the global slot while the runs' holds are in
 * theirs (no script crosses slots), and a worker process killed with SIGKILL mid-run loses
 * nothing: every run completes, and no answer recorded before the kill is paid twice.
 * Skipped, saying why, only where redis-server or redis-cli cannot be run.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config/env.js';
import { silentLogger } from '../../src/logger.js';
import { isTerminalRun } from '../../src/model/run.js';
import type { RunView } from '../../src/query/run-view.js';
import { cellTag, hashedCell } from '../../src/store/cells.js';
import { keys } from '../../src/store/keys.js';
import { type System } from '../../src/system.js';
import { systemFromDefinitions } from '../../src/system-definitions.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { poll } from '../helpers/poll.js';
import { unique } from '../helpers/redis.js';
import { clusterUnavailable, ownCluster, type OwnCluster } from '../helpers/redis-cluster.js';
import { killAllWorkerProcesses, startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const unavailable = clusterUnavailable();
/** The prefix, chosen once the cluster is up so that its three cells' slots are on three different nodes. */
let PREFIX = '';
const STALLED = { lockDuration: 2000, stalledInterval: 1000 };
const AGENTS = { llm: { provider: 'openai', model: 'gpt-cells', attempts: 4 } };
// A limit, so every call goes through the shared limiter (in the global slot) and holds a lease in its run's slot.
const PROVIDERS = { openai: { models: { 'gpt-cells': { maxConcurrent: 50 } } } };
const CHAIN = {
  name: 'paid-chain',
  input: { m: { type: 'string' } },
  steps: [
    {
      sequential: [
        { id: 's1', agent: 'llm', input: { task: '{{input.m}} one [[delay:250]]' } },
        { id: 's2', agent: 'llm', input: { task: '{{input.m}} two [[delay:250]]' } },
        { id: 's3', agent: 'llm', input: { task: '{{input.m}} three [[delay:250]]' } },
      ],
    },
  ],
};

/**
 * A prefix whose three cells are served by three different nodes. Which node serves a cell is
 * its tag's slot's: a deployment moves slots (redis-cli --cluster reshard) or has more cells
 * than nodes; a test picks its tags.
 */
async function spreadPrefix(cluster: OwnCluster): Promise<string> {
  for (let n = 0; n < 200; n++) {
    const prefix = `{syc${n}}`;
    const ports = await Promise.all([0, 1, 2].map(async (i) => (await cluster.whereIs(cellTag(prefix, i))).port));
    if (new Set(ports).size === 3) return prefix;
  }
  throw new Error('no prefix spreads three cells over three nodes');
}

/** The first workspace id of the form `ws-<n>` that hashes to each of `count` cells. */
function oneWorkspacePerCell(count: number): string[] {
  const found: string[] = [];
  for (let n = 0; found.filter(Boolean).length < count; n++) found[hashedCell(`ws-${n}`, count)] ??= `ws-${n}`;
  return found;
}

describe.skipIf(unavailable !== undefined)(`cells on a three-node Redis Cluster${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let cluster: OwnCluster;
  let fake: FakeLlmServer;
  let system: System;
  let server: Server;
  let baseUrl: string;
  const workers: WorkerProcess[] = [];
  const workspaces = oneWorkspacePerCell(3);
  const bearer: Record<string, string> = {};

  const workerEnv = () => ({ REDIS_CLUSTER_NODES: cluster.spec, SWITCHYARD_CELLS: '3' });
  const startWorker = async () => {
    const w = await startWorkerProcess({ prefix: PREFIX, agents: AGENTS, providers: PROVIDERS, fake, stalled: STALLED, env: workerEnv() });
    workers.push(w);
    return w;
  };
  const request = async (ws: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer[ws]}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const read = async (ws: string, id: string) => (await request(ws, 'GET', `/v1/runs/${id}`)).body as unknown as RunView;

  beforeAll(async () => {
    cluster = await ownCluster(3);
    PREFIX = await spreadPrefix(cluster);
    fake = await startFakeLlmServer();
    const config = loadConfig({
      REDIS_CLUSTER_NODES: cluster.spec,
      SWITCHYARD_CELLS: '3',
      SWITCHYARD_PREFIX: PREFIX,
      OPENAI_API_KEY: 'test-key',
      OPENAI_BASE_URL: fake.openaiBaseURL,
    });
    system = systemFromDefinitions({
      config,
      agents: AGENTS,
      providers: PROVIDERS,
      workflows: [CHAIN],
      source: 'cluster',
      logger: silentLogger,
      retentionSeconds: 600,
    });
    for (const ws of workspaces) bearer[ws] = (await system.keys.create({ workspace: ws, scopes: ['runs:write', 'runs:read'] })).key;
    server = await new Promise<Server>((resolve) => {
      const s = createApp(system, { bodyLimit: '100kb', bounds: config.bounds, auth: config.auth }).listen(0, '127.0.0.1', () => resolve(s));
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 30_000);

  afterAll(async () => {
    await killAllWorkerProcesses();
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await system?.close();
    await fake?.close();
    await cluster?.destroy();
  });

  it(
    'runs of workspaces in three cells complete on the cluster; a worker killed mid-run loses nothing and pays no recorded answer twice',
    { timeout: 60_000 },
    async () => {
      expect(workspaces.map((ws) => system.cellMap.indexOf(ws))).toEqual([0, 1, 2]);
      const first = await startWorker();
      const submitted = await Promise.all(
        workspaces.flatMap((ws) =>
          [0, 1, 2].map(async (i) => {
            const m = unique(`${ws}-${i}`);
            const res = await request(ws, 'POST', '/v1/runs', { workflow: 'paid-chain', input: { m } });
            expect(res.status, JSON.stringify(res.body)).toBe(202);
            return { ws, id: res.body.id as string };
          }),
        ),
      );

      // Each cell's keys are in its own slot, the cells on three different nodes.
      const where = await Promise.all(submitted.map(({ ws, id }) => cluster.whereIs(keys.run(system.scope(ws), id))));
      // submitted: three runs of each workspace, in the order of `workspaces` (cell 0, 1, 2).
      const byCell = workspaces.map((_, cell) => new Set(where.filter((_, i) => Math.floor(i / 3) === cell).map((w) => w.port)));
      for (const ports of byCell) expect(ports.size).toBe(1);
      expect(new Set(byCell.map((p) => [...p][0])).size).toBe(3);

      // Kill the worker once some answers are recorded and other calls are in flight.
      await poll(
        'some steps done and some running',
        async () => (await Promise.all(submitted.map(({ ws, id }) => read(ws, id)))).flatMap((r) => r.steps.map((s) => s.status)),
        (statuses) => statuses.filter((s) => s === 'succeeded').length >= 3 && statuses.includes('running'),
        { timeoutMs: 20_000, intervalMs: 25 },
      );
      await first.kill();
      const paidBeforeKill = fake.requests.length;
      const recordedBefore = (await Promise.all(submitted.map(({ ws, id }) => read(ws, id)))).flatMap((r) =>
        r.steps.filter((s) => s.status === 'succeeded').map((s) => (s.input as { task: string }).task),
      );
      await startWorker();

      const runs = await Promise.all(
        submitted.map(({ ws, id }) =>
          poll(
            `run ${id} of ${ws} finished`,
            () => read(ws, id),
            (r) => isTerminalRun(r.status),
            { timeoutMs: 30_000, intervalMs: 50 },
          ),
        ),
      );
      for (const run of runs) expect(run.status, `${run.id}: ${JSON.stringify(run.steps.map((s) => [s.stepId, s.status, s.error]))}`).toBe('succeeded');
      expect(recordedBefore.length).toBeGreaterThanOrEqual(3);
      // No answer recorded before the kill is asked for again after it (the calls cut by it are).
      const paidAfter = fake.requests.slice(paidBeforeKill).map((r) => r.prompt);
      for (const task of recordedBefore) expect(paidAfter, task).not.toContain(task);
      // Every step was answered; only a call cut by the kill was made again.
      expect(fake.requests.length).toBeGreaterThanOrEqual(runs.length * 3);

      // What the calls held is given back: no lease left in the global slot, no holds in the runs' slots.
      const redis = system.api.redis;
      expect(await redis.zcard(keys.limitLeases(system.global, 'openai/gpt-cells'))).toBe(0);
      for (const { ws, id } of submitted) expect(await redis.exists(keys.runHolds(system.scope(ws), id)), id).toBe(0);
      // Another workspace's run is not found, whatever its cell.
      expect((await request(workspaces[1]!, 'GET', `/v1/runs/${submitted[0]!.id}`)).status).toBe(404);
      // The limiter's keys are in the global slot (cell 0's), on the node that serves it.
      expect((await cluster.whereIs(keys.limit(system.global, 'openai/gpt-cells'))).slot).toBe((await cluster.whereIs(PREFIX)).slot);
    },
  );
});
