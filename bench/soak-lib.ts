/**
 * The soak: mixed workflows for a bounded time against the fake LLM server with injected 429s,
 * 500s and timeouts, on a Redis of its own with AOF, while the worker process that serves the
 * agents is SIGKILLed and started again every `killEveryMs`, and Redis itself is stopped and
 * started again (its data kept by AOF) once. Then it checks what crash safety promises:
 * - every run that was accepted finished (none stuck in waiting-children or running);
 * - no recorded answer was asked for again: no provider request for a step started after the
 *   step's answer was recorded;
 * - no answer was counted twice: a step's recorded usage is more than none and at most what
 *   the fake server answered for it (an answer paid for but lost with a killed worker is not
 *   recorded; one recorded twice would exceed it);
 * - once the retention has passed, the runs' keys are gone from Redis.
 * `npm run soak -- --minutes N` runs it (bench/soak.ts); test/soak/soak.test.ts runs a short one.
 */
import { loadConfig } from '../src/config/env.js';
import { startWorkerPools } from '../src/engine/pools.js';
import { silentLogger } from '../src/logger.js';
import { isTerminalRun } from '../src/model/run.js';
import { systemFromDefinitions } from '../src/system-definitions.js';
import { startFakeLlmServer, type RecordedRequest } from '../test/fixtures/fake-llm-server.js';
import { ownRedis } from '../test/helpers/redis-server.js';
import { killAllWorkerProcesses, startWorkerProcess, type WorkerProcess } from '../test/helpers/worker-process.js';
import { Redis } from 'ioredis';

export interface SoakOptions {
  durationMs: number;
  /** SIGKILL the worker process this often (then start a new one). */
  killEveryMs: number;
  /** Runs submitted per second. */
  rate: number;
  /** When (ms from the start) Redis is stopped and started again; none when absent. */
  redisRestartAtMs?: number;
  /**
   * Kill the worker at least this many times: the chaos goes on past `durationMs` (runs are no
   * longer submitted then) until it has (a worker that starts slowly on a busy host delays the next kill).
   */
  minKills?: number;
  /** Retention of finished runs (s): their keys must be gone this long after the end. */
  retentionSeconds: number;
  log?: (msg: string) => void;
}

export interface SoakReport {
  submitted: number;
  refused: number;
  finished: Record<string, number>;
  stuck: string[];
  kills: number;
  redisRestarts: number;
  providerRequests: number;
  injected: { rateLimited: number; failed: number; slow: number };
  /** Steps whose answer was asked for again after it was recorded. */
  repeatedAfterRecord: string[];
  /** Succeeded steps whose recorded usage is none, or more than the answers sent for them. */
  usageMismatch: string[];
  /** Run keys left once the retention passed. */
  leftoverRunKeys: number;
  ok: boolean;
}

const AGENTS = {
  a: { provider: 'openai', model: 'gpt-soak-a', attempts: 6, timeoutMs: 1500, backoff: { type: 'fixed', delayMs: 100 } },
  b: { provider: 'openai', model: 'gpt-soak-b', attempts: 6, timeoutMs: 1500, backoff: { type: 'fixed', delayMs: 100 } },
};
const WORKFLOWS = [
  {
    name: 'soak-chain',
    input: { k: { type: 'string' } },
    steps: [
      {
        sequential: [
          { id: 's1', agent: 'a', input: { task: '{{input.k}} s1' } },
          { id: 's2', agent: 'b', input: { task: '{{input.k}} s2 after {{steps.s1.output}}' } },
        ],
      },
    ],
  },
  {
    name: 'soak-diamond',
    input: { k: { type: 'string' } },
    steps: [
      {
        sequential: [
          { id: 'top', agent: 'a', input: { task: '{{input.k}} top' } },
          {
            parallel: [
              { id: 'l', agent: 'a', input: { task: '{{input.k}} l' } },
              { id: 'r', agent: 'b', input: { task: '{{input.k}} r' } },
            ],
          },
          { id: 'join', kind: 'concat', dependsOn: ['l', 'r'] },
        ],
      },
    ],
  },
];
const STALLED = { lockDuration: 2_000, stalledInterval: 1_000 };

/** The marker a request carries: the run's key and the step's own word (`<k> s1`, `<k> top`...). */
const markerOf = (prompt: string): string | undefined => /\b(soak-\d+) (s1|s2|top|l|r)\b/.exec(prompt)?.slice(1, 3).join(' ');

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log ?? (() => undefined);
  const redisServer = await ownRedis(); // started
  const fake = await startFakeLlmServer();
  const injected = { rateLimited: 0, failed: 0, slow: 0 };
  fake.respondWith(() => {
    const x = Math.random();
    if (x < 0.05) {
      injected.rateLimited++;
      return { status: 429, headers: { 'retry-after-ms': '100' } };
    }
    if (x < 0.1) {
      injected.failed++;
      return { status: 500 };
    }
    if (x < 0.13) {
      injected.slow++;
      return { delayMs: 3_000 }; // past the agents' timeoutMs: the attempt times out
    }
    return { delayMs: Math.floor(Math.random() * 80) };
  });
  const prefix = `{soak-${Date.now().toString(36)}}`;
  const config = loadConfig({ REDIS_URL: redisServer.url, SWITCHYARD_PREFIX: prefix, OPENAI_API_KEY: 'soak', OPENAI_BASE_URL: fake.openaiBaseURL });
  const system = systemFromDefinitions({
    config,
    agents: AGENTS,
    workflows: WORKFLOWS,
    source: 'soak',
    logger: silentLogger,
    retentionSeconds: opts.retentionSeconds,
  });
  // This process runs the internal workers (runs, refs, watchdog, sweeper); the agents run in a worker process that is killed.
  const pools = await startWorkerPools(system, { agents: [], sweep: { everyMs: 2_000, graceMs: 10_000 } });
  const startWorker = () =>
    startWorkerProcess({ prefix, redisUrl: redisServer.url, agents: AGENTS, internal: false, fake, stalled: STALLED, retentionSeconds: opts.retentionSeconds });
  let worker: WorkerProcess = await startWorker();
  const report: SoakReport = {
    submitted: 0,
    refused: 0,
    finished: {},
    stuck: [],
    kills: 0,
    redisRestarts: 0,
    providerRequests: 0,
    injected,
    repeatedAfterRecord: [],
    usageMismatch: [],
    leftoverRunKeys: 0,
    ok: false,
  };
  const ids: string[] = [];
  /** What each run was seen to end as, and its record then (a finished run leaves Redis after the retention). */
  const ended = new Map<string, NonNullable<Awaited<ReturnType<typeof system.engine.store.records.get>>>>();
  const t0 = Date.now();
  let restarting = false;
  let watching = true;
  const watch = async () => {
    while (watching) {
      for (const id of ids.filter((x) => !ended.has(x))) {
        const state = await system.engine.store.records.get(system.scope(), id).catch(() => null);
        if (state && isTerminalRun(state.run.status)) ended.set(id, state);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  try {
    const watcher = watch();
    const submitter = (async () => {
      let n = 0;
      while (Date.now() - t0 < opts.durationMs) {
        const k = `soak-${n++}`;
        try {
          const res = await system.api.submissions.submitWorkflow(system.scope(), n % 2 ? 'soak-chain' : 'soak-diamond', { k });
          ids.push(res.id);
          report.submitted++;
        } catch {
          report.refused++; // Redis down: the API would answer 503; nothing is accepted
        }
        await new Promise((r) => setTimeout(r, 1000 / opts.rate));
      }
    })();
    const chaos = (async () => {
      let nextKill = t0 + opts.killEveryMs;
      let restarted = opts.redisRestartAtMs === undefined;
      while (Date.now() - t0 < opts.durationMs || report.kills < (opts.minKills ?? 0) || !restarted) {
        await new Promise((r) => setTimeout(r, 100));
        if (Date.now() >= nextKill) {
          await worker.kill();
          report.kills++;
          log(`  ${((Date.now() - t0) / 1000).toFixed(0)} s: worker SIGKILLed, starting another`);
          worker = await startWorker();
          nextKill = Date.now() + opts.killEveryMs;
        }
        if (!restarted && Date.now() - t0 >= opts.redisRestartAtMs!) {
          restarted = true;
          restarting = true;
          log(`  ${((Date.now() - t0) / 1000).toFixed(0)} s: Redis stopped (AOF), starting it again in 1 s`);
          const before = await serverRunId(redisServer.url);
          await redisServer.stop();
          await new Promise((r) => setTimeout(r, 1_000));
          await redisServer.start();
          restarting = false;
          // Counted only when another server process answers (its run_id is new).
          if ((await serverRunId(redisServer.url)) !== before) report.redisRestarts++;
        }
      }
    })();
    await Promise.all([submitter, chaos]);
    log(`  submitted ${report.submitted} runs (${report.refused} refused while Redis was down); waiting for them to finish`);
    // Every accepted run ends: killed workers' jobs are taken over by the stalled check.
    const deadline = Date.now() + 90_000;
    while (ended.size < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 300));
    watching = false;
    await watcher;
    report.stuck = ids.filter((id) => !ended.has(id));
    // No recorded answer asked for again: no request for a step after its answer was recorded.
    const byMarker = new Map<string, RecordedRequest[]>();
    for (const r of fake.requests) {
      const m = markerOf(r.prompt);
      if (m) byMarker.set(m, [...(byMarker.get(m) ?? []), r]);
    }
    report.providerRequests = fake.requests.length;
    for (const id of ids) {
      const state = ended.get(id);
      if (!state) continue;
      report.finished[state.run.status] = (report.finished[state.run.status] ?? 0) + 1;
      const k = (state.run.input as { k: string }).k;
      for (const s of state.steps) {
        if (s.status !== 'succeeded' || !s.agent || !s.finishedAt) continue;
        const recordedAt = Date.parse(s.finishedAt);
        const asked = byMarker.get(`${k} ${s.stepId}`) ?? [];
        const later = asked.filter((r) => r.time > recordedAt + 5);
        if (later.length) report.repeatedAfterRecord.push(`${id}.${s.stepId} (${later.length} request(s) after it was recorded)`);
        const sent = asked.flatMap((r) => (r.answered ? [r.answered] : []));
        const paid = { inputTokens: sent.reduce((n, u) => n + u.inputTokens, 0), outputTokens: sent.reduce((n, u) => n + u.outputTokens, 0) };
        const got = s.usage ?? { inputTokens: 0, outputTokens: 0 };
        if (got.inputTokens <= 0 || got.inputTokens > paid.inputTokens || got.outputTokens > paid.outputTokens) {
          report.usageMismatch.push(
            `${id}.${s.stepId} (recorded ${got.inputTokens}/${got.outputTokens}, ${sent.length} answer(s) sent: ${paid.inputTokens}/${paid.outputTokens})`,
          );
        }
      }
    }
    // Once the retention has passed, the runs' keys are gone (looked at until then: gone sooner is as good).
    log(`  waiting out the retention (${opts.retentionSeconds} s)`);
    const probe = new Redis(redisServer.url);
    try {
      const gone = Date.now() + opts.retentionSeconds * 1000 + 1_500;
      for (;;) {
        report.leftoverRunKeys = await countKeys(probe, `${prefix}:ws:*:run:*`);
        if (report.leftoverRunKeys === 0 || Date.now() > gone) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await probe.quit();
    }
    report.ok =
      report.stuck.length === 0 &&
      report.repeatedAfterRecord.length === 0 &&
      report.usageMismatch.length === 0 &&
      report.leftoverRunKeys === 0 &&
      report.submitted > 0 &&
      !restarting;
    return report;
  } finally {
    watching = false;
    await killAllWorkerProcesses();
    await pools.close(2_000).catch(() => undefined);
    await system.close().catch(() => undefined);
    await fake.close();
    await redisServer.destroy();
  }
}

/** How many keys match `pattern`. */
async function countKeys(redis: Redis, pattern: string): Promise<number> {
  let n = 0;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    n += found.length;
  } while (cursor !== '0');
  return n;
}

/** The run_id of the Redis server at `url` (new with each server process). */
async function serverRunId(url: string): Promise<string> {
  const probe = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    return /run_id:(\w+)/.exec(await probe.info('server'))?.[1] ?? '';
  } finally {
    await probe.quit().catch(() => probe.disconnect());
  }
}
