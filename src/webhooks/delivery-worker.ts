/** The worker of the `webhooks` queue: deliveries, retried with the webhook backoff (DELIVERY_BACKOFF_MS). */
import { Worker, type ConnectionOptions } from 'bullmq';
import { WEBHOOK_QUEUE } from '../store/keys.js';
import { createDeliveryProcessor, type DeliverDeps } from './deliver.js';
import { DELIVERY_BACKOFF, DELIVERY_BACKOFF_MS, type DeliveryJob } from './delivery-job.js';

export interface DeliveryWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  /** Waits before each retry, ms (the last repeats). @default DELIVERY_BACKOFF_MS */
  backoffMs?: readonly number[];
  concurrency?: number;
  /** BullMQ's lock and stalled check, ms: a delivery whose worker died is sent again after their sum. */
  lockDuration?: number;
  stalledInterval?: number;
}

export function startDeliveryWorker(deps: DeliverDeps, opts: DeliveryWorkerOptions): Worker<DeliveryJob> {
  const schedule = opts.backoffMs ?? DELIVERY_BACKOFF_MS;
  return new Worker<DeliveryJob>(WEBHOOK_QUEUE, createDeliveryProcessor(deps), {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency ?? 16,
    ...(opts.lockDuration ? { lockDuration: opts.lockDuration } : {}),
    ...(opts.stalledInterval ? { stalledInterval: opts.stalledInterval } : {}),
    settings: {
      backoffStrategy: (attemptsMade: number, type?: string) => (type === DELIVERY_BACKOFF ? schedule[Math.min(attemptsMade, schedule.length) - 1]! : 0),
    },
  });
}
