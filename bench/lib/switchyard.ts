/**
 * A whole Switchyard in this process for one scenario (the same assembly as
 * test/helpers/harness.ts, without vitest or the HTTP API): its own prefix, echo agents,
 * precompiled workflows and worker pools. The end of a run is observed in-process, when the
 * engine's finish of the run is applied (RunStore.onFinished), so timing needs no polling.
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../src/config/env.js';
import { silentLogger } from '../../src/logger.js';
import type { Provider } from '../../src/calls/provider.js';
import type { RunState } from '../../src/store/run-store.js';
import { type System } from '../../src/system.js';
import { systemFromDefinitions } from '../../src/system-definitions.js';
import { compileWorkflow } from '../../src/compile/compile.js';
import { startWorkerPools, type WorkerPools, type WorkerPoolsOptions } from '../../src/engine/pools.js';
import { REDIS_URL, benchPrefix, cleanupPrefix } from './redis.js';
import { Arrivals, withTimeout, type Settlement } from './util.js';

export interface SwitchyardBenchOptions {
  name: string;
  agents: Record<string, Record<string, unknown>>;
  workflows: Record<string, unknown>[];
  /** Replace the providers (e.g. an instant one, to isolate the echo provider's timer). */
  providerFor?: (agent: string) => Provider;
  /** More worker pool options (e.g. `agents: []` to serve none). */
  pools?: WorkerPoolsOptions;
  /** The agents file's `providers:` (limits). */
  providers?: Record<string, unknown>;
  /** More environment (e.g. OPENAI_BASE_URL of a fake server). */
  env?: Record<string, string>;
  /** Another Redis than the bench's (a measurement's own). */
  redisUrl?: string;
}

export interface TimedRun {
  runId: string;
  /** performance.now() just before submitWorkflow. */
  t0: number;
  /** performance.now() when the run's finish was applied. */
  t1: number;
  ms: number;
  /** Time spent inside submitWorkflow (createRun + FlowProducer.add). */
  submitMs: number;
  state: RunState;
}

export interface SwitchyardBench {
  system: System;
  /** Its key prefix (a worker process joins it). */
  prefix: string;
  /** Compile time of each workflow at start-up (ms). */
  compileMs: Map<string, number>;
  /** Submit a named workflow and wait until it finishes. Throws unless it succeeded. */
  run(workflow: string, input?: Record<string, unknown>, timeoutMs?: number, onRootDone?: () => void): Promise<TimedRun>;
  /** When `runId` finishes (it may have finished before this is called). */
  finished(runId: string): Promise<Settlement>;
  /** Only the agent pools given (default all), e.g. none for an API-side measurement. */
  pools: WorkerPools;
  close(): Promise<void>;
}

/** Connections that Switchyard left open and the bench had to close (a leak check: it should stay 0). */
export let leakedConnections = 0;

export async function startSwitchyard(opts: SwitchyardBenchOptions): Promise<SwitchyardBench> {
  const prefix = benchPrefix(`sy-${opts.name}`);
  // The scenarios go past the default 1,000 steps per workflow.
  const redisUrl = opts.redisUrl ?? REDIS_URL;
  const config = loadConfig({ REDIS_URL: redisUrl, SWITCHYARD_PREFIX: prefix, SWITCHYARD_MAX_STEPS: '20000', ...opts.env });
  // Compile once on its own to report the compile time; the system compiles them again.
  const compileMs = new Map<string, number>();
  for (const def of opts.workflows) {
    const c0 = performance.now();
    const wf = compileWorkflow(def, { agents: Object.keys(opts.agents), source: `bench/${opts.name}`, bounds: config.bounds });
    compileMs.set(wf.name, performance.now() - c0);
  }
  const system = systemFromDefinitions({
    config,
    agents: opts.agents,
    ...(opts.providers ? { providers: opts.providers } : {}),
    workflows: opts.workflows,
    source: `bench/${opts.name}`,
    logger: silentLogger,
    retentionSeconds: 3600,
  });
  // Leak check: record the duplicates made from the system's connection, so close() can
  // end (and count) any that Switchyard left open.
  const duplicates: Redis[] = [];
  const origDuplicate = system.engine.redis.duplicate.bind(system.engine.redis);
  system.engine.redis.duplicate = (...args: Parameters<Redis['duplicate']>) => {
    const d = origDuplicate(...args);
    duplicates.push(d);
    return d;
  };
  let pools: WorkerPools;
  try {
    pools = await startWorkerPools(system, { ...opts.pools, ...(opts.providerFor ? { providerFor: opts.providerFor } : {}) });
  } catch (err) {
    await system.close();
    await cleanupPrefix(prefix, redisUrl);
    throw err;
  }

  const roots = new RunSettlements(system);

  return {
    system,
    prefix,
    compileMs,
    pools,
    finished: (id) => roots.wait(id),
    async run(workflow, input = {}, timeoutMs = 120_000, onRootDone) {
      const t0 = performance.now();
      const { id } = await system.api.submissions.submitWorkflow(system.scope(), workflow, input);
      const submitMs = performance.now() - t0;
      let done: { t: number; err?: string };
      try {
        done = await withTimeout(roots.wait(id), timeoutMs, `switchyard run ${id} of ${workflow}`);
      } catch (err) {
        roots.forget(id);
        const st = await system.engine.store.records.get(system.scope(), id).catch(() => null);
        const live = st?.steps.filter((s) => s.status !== 'succeeded').map((s) => `${s.stepId}:${s.status}`) ?? [];
        throw new Error(`${(err as Error).message}; run status ${st?.run.status}; unfinished steps: ${live.slice(0, 10).join(', ')}`, { cause: err });
      }
      onRootDone?.();
      const state = await system.engine.store.records.get(system.scope(), id);
      if (!state) throw new Error(`run ${id} vanished`);
      if (state.run.status !== 'succeeded') {
        throw new Error(`run ${id} ended ${state.run.status}: ${state.run.error ?? ''}`);
      }
      return { runId: id, t0, t1: done.t, ms: done.t - t0, submitMs, state };
    },
    async close() {
      await pools.close(10_000);
      await system.close();
      // BullMQ's own duplicates may still be winding down ('close'); only 'ready' ones are leaks.
      await new Promise((r) => setTimeout(r, 50));
      const leaked = duplicates.filter((d) => d.status === 'ready' || d.status === 'connect' || d.status === 'connecting');
      if (process.env.BENCH_DEBUG) console.log('duplicate statuses:', duplicates.map((d) => `${d.options.connectionName}:${d.status}`).join(', '));
      await Promise.all(leaked.map((d) => d.quit().catch(() => d.disconnect())));
      leakedConnections += leaked.length;
      await cleanupPrefix(prefix, redisUrl);
    },
  };
}

/** An echo agent for the agents file. */
export const echoAgent = (latencyMs: number, concurrency: number): Record<string, unknown> => ({
  provider: 'echo',
  echo: { latencyMs },
  concurrency,
  attempts: 1,
});

/** A provider that answers at once (no timer), to measure the engine without the echo sleep. */
export const instantProvider: Provider = {
  name: 'echo',
  async complete(req) {
    return { text: `[${req.agent}] ok`, usage: { inputTokens: 1, outputTokens: 1 }, model: 'instant', stopReason: 'end_turn' };
  },
};

/** Ends of runs by id, as the engine applies them in this process. */
class RunSettlements extends Arrivals<Settlement> {
  constructor(system: System) {
    super();
    system.engine.store.endings.onFinished((_scope, runId) => this.arrive(runId, { t: performance.now() }));
  }
}
