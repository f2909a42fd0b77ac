/**
 * The timers of a process: its heartbeat (which queues it serves, for why a step waits and
 * /readyz, and its BullMQ workers, whose ids its job locks carry: a step whose process stopped
 * beating is lost) and, with the internal workers, the sweeper of runs whose jobs were never added
 * and of finished runs whose run.finished webhook notice was never queued.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Worker } from 'bullmq';
import { sweepQueued } from '../flow/sweeper.js';
import { WebhookRecords } from '../store/webhook-records.js';
import { sweepFinishNotices } from '../webhooks/finish-notices.js';
import type { Scope } from '../store/scope.js';
import type { System } from '../system.js';

export interface ProcessTimers {
  /** Stop both; `leave` waits for a beat or sweep under way, then says this process has gone. */
  stop(): void;
  leave(): Promise<unknown>;
  /** Beat now (a workspace agent's queue is served from now on). */
  beat(): Promise<unknown>;
}

/**
 * `workers`: the step workers and the others, read at each beat (the queues of workspace
 * agents are served as they come, their workers added to `steps`).
 */
export async function startTimers(
  system: System,
  workers: { steps: readonly Worker[]; others: readonly Worker[] },
  sweep: { everyMs: number; graceMs: number; noticeGraceMs?: number } | undefined,
): Promise<ProcessTimers> {
  const { logger, cell } = system;
  const { store, control, heartbeats } = system.engine;
  const processId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const beat = () =>
    heartbeats
      .beat(
        processId,
        workers.steps.map((w) => w.name),
        [...workers.steps, ...workers.others].map((w) => w.id),
      )
      .catch((err: unknown) => logger.debug({ err }, 'heartbeat failed'));
  await beat();
  let beating: Promise<unknown> = Promise.resolve();
  const heartbeat = setInterval(() => {
    beating = beat();
  }, heartbeats.heartbeatMs);
  heartbeat.unref();
  // Runs whose jobs were never added end `failed`.
  let sweeping: Promise<unknown> | undefined;
  const sweepDeps = { store, control, cell, queue: (name: string) => system.queue(name), logger, graceMs: sweep?.graceMs ?? 60_000 };
  // Finished runs whose run.finished notice was never queued (their finisher was killed) get it.
  const noticeDeps = {
    webhooks: system.engine.webhooks,
    records: new WebhookRecords(store.redis),
    statusOf: (scope: Scope, runId: string) => store.records.status(scope, runId),
    cell,
    logger,
    graceMs: sweep?.noticeGraceMs ?? 60_000,
  };
  const sweeper = sweep
    ? setInterval(() => {
        sweeping ??= Promise.all([sweepQueued(sweepDeps), sweepFinishNotices(noticeDeps)])
          .catch((err: unknown) => logger.debug({ err }, 'sweep failed'))
          .finally(() => (sweeping = undefined));
      }, sweep.everyMs)
    : undefined;
  sweeper?.unref();
  return {
    stop() {
      clearInterval(heartbeat);
      clearInterval(sweeper);
    },
    leave: () => Promise.all([beating, sweeping]).then(() => heartbeats.leave(processId)),
    beat,
  };
}
