/**
 * A delivery job on the `webhooks` queue: which webhook, which event (no secret: the processor
 * opens the webhook's sealed secret when it sends). Its id is the webhook's and the event's, so
 * the same event is queued once per webhook (kept a week after it ends); retried with backoff
 * through a day (DELIVERY_BACKOFF_MS).
 */
import type { JobsOptions } from 'bullmq';
import type { WebhookEvent } from '../model/webhook.js';

export interface DeliveryJob {
  workspace: string;
  webhookId: string;
  event: WebhookEvent;
}

/** Waits before each retry, ms: 10 s, 1 min, 5 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h (about a day in all). */
export const DELIVERY_BACKOFF_MS = [10_000, 60_000, 300_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000, 28_800_000];

/** The name of the custom backoff the delivery worker computes. */
export const DELIVERY_BACKOFF = 'webhook';

const WEEK_SECONDS = 7 * 24 * 3600;

/** BullMQ's custom job ids may not hold `:`; event ids never do, webhook ids never hold `~`. */
export const deliveryJobId = (webhookId: string, eventId: string): string => `${webhookId}~${eventId.replaceAll(':', '.')}`;

export function deliveryJobOptions(webhookId: string, eventId: string, attempts = DELIVERY_BACKOFF_MS.length + 1): JobsOptions {
  return {
    jobId: deliveryJobId(webhookId, eventId),
    attempts,
    backoff: { type: DELIVERY_BACKOFF },
    removeOnComplete: { age: WEEK_SECONDS },
    removeOnFail: { age: WEEK_SECONDS },
  };
}
