/**
 * The internal workers of a process: the root jobs of runs, refs, schedules and conversation turns, and the
 * watchdog that ends a run whose root job failed (flow/failed-jobs.ts).
 */
import { QueueEvents, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { endFailedRun } from '../flow/failed-jobs.js';
import { createRefProcessor } from '../flow/ref-processor.js';
import { createRunProcessor } from '../flow/run-processor.js';
import { createScheduleProcessor } from '../schedules/schedule-processor.js';
import { CONVERSATION_QUEUE, REF_QUEUE, RUN_QUEUE, SCHEDULE_QUEUE } from '../store/keys.js';
import { createTurnProcessor } from '../conversations/turn-processor.js';
import type { System } from '../system.js';
import { watched } from '../store/connection.js';
import { workerError } from './step-workers.js';
import { createOutbound } from '../net/outbound.js';
import { WebhookRecords } from '../store/webhook-records.js';
import { startDeliveryWorker } from '../webhooks/delivery-worker.js';

export interface InternalWorkers {
  workers: Worker[];
  watchdog: QueueEvents;
  /** The watchdog's own connection (its owner closes it). */
  watchConnection: Redis;
}

export async function startInternalWorkers(
  system: System,
  opts: { webhookBackoffMs?: readonly number[] | undefined; stalled?: { lockDuration: number; stalledInterval: number } | undefined } = {},
): Promise<InternalWorkers> {
  const { logger, cell } = system;
  const { store, control } = system.engine;
  const connection = system.engine.redis;
  const prefix = cell.tag;
  const queue = (name: string) => system.queue(name);
  const common = { connection, prefix, ...system.stalled };
  const workers = [
    new Worker(RUN_QUEUE, createRunProcessor({ store, control, cell, logger }), { ...common, concurrency: 16, maxStalledCount: 10 }),
    new Worker(REF_QUEUE, createRefProcessor({ store, control, cell, queue, safetyDelayMs: system.refSafetyDelayMs }), {
      ...common,
      concurrency: 16,
      maxStalledCount: 10,
    }),
    new Worker(SCHEDULE_QUEUE, createScheduleProcessor({ submissions: system.engine.submissions, cell, logger }), { ...common, concurrency: 4 }),
    startDeliveryWorker(
      {
        records: new WebhookRecords(system.engine.store.redis),
        keyring: system.keyring,
        outbound: createOutbound({ egress: system.opts.egress ?? { production: false, allow: [] } }),
        scope: (ws) => system.scope(ws),
        logger,
      },
      { connection, prefix, ...(opts.stalled ?? system.stalled), ...(opts.webhookBackoffMs ? { backoffMs: opts.webhookBackoffMs } : {}) },
    ),
    // A turn's job waits a few seconds for its run, then is delayed: many conversations at once, few slots.
    new Worker(
      CONVERSATION_QUEUE,
      createTurnProcessor({
        cell,
        store: system.engine.conversationStore,
        conversations: system.engine.conversations,
        submissions: system.engine.submissions,
        awaitRunEnd: (scope, runId, waitMs, signal) => system.engine.queries.awaitEnd(scope, runId, waitMs, signal),
        records: store.records,
        logger,
        summarizer: system.sessionSummarizer,
      }),
      { ...common, concurrency: 32 },
    ),
  ];
  for (const w of workers) w.on('error', workerError(system, w.name));

  // A root job that failed (a required step's job failed, even without our handler running)
  // must still end its run, with the step that failed recorded as failed. Its blocking reads
  // need a connection of their own, which BullMQ leaves to its owner to close.
  const watchConnection = watched(connection.duplicate(), logger);
  const watchdog = new QueueEvents(RUN_QUEUE, { connection: watchConnection, prefix });
  // Its connection's errors are logged by `watched` (once per outage).
  watchdog.on('error', () => undefined);
  watchdog.on('failed', ({ jobId, failedReason }) => {
    endFailedRun({ store, control, cell, queue }, jobId, failedReason).catch((err: Error) =>
      logger.error({ runId: jobId, err: err.message }, 'watchdog could not end run'),
    );
  });
  await watchdog.waitUntilReady();
  return { workers, watchdog, watchConnection };
}
