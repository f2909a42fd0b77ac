/**
 * Webhooks: a run's own (`webhook` on POST /v1/runs) and a workspace's subscriptions (POST
 * /v1/webhooks), the events they are sent, and each delivery attempt as it is recorded.
 * A secret is given once, sealed at rest, and never shown again.
 */
import { z } from 'zod';

/** The events a webhook can be sent. */
export const WEBHOOK_EVENT_TYPES = ['run.finished', 'step.waiting', 'budget.warning'] as const;
export const WebhookEventType = z.enum(WEBHOOK_EVENT_TYPES);
export type WebhookEventType = z.infer<typeof WebhookEventType>;

export const WebhookUrl = z
  .string()
  .max(2048)
  .url('must be an absolute URL')
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http or https URL');

/** The shared secret deliveries are signed with (HMAC-SHA256). */
export const WebhookSecret = z.string().min(16, 'must be at least 16 characters').max(256);

/** A run's own webhook (`webhook` on POST /v1/runs). */
export const RunWebhook = z
  .object({
    url: WebhookUrl,
    secret: WebhookSecret.optional(),
    /** @default ['run.finished'] */
    events: z.array(WebhookEventType).min(1).optional(),
  })
  .strict();
export type RunWebhook = z.infer<typeof RunWebhook>;

/** A webhook's id: `wh_` and 16 hex digits for a subscription, `run-<run id>` for a run's own. */
export const WebhookId = z.string().regex(/^(wh_[0-9a-f]{16}|run-run_[0-9a-z]{1,40})$/, 'is not a webhook id (wh_... or run-<run id>)');

/** POST /v1/webhooks: a workspace's subscription, to every run of it or of one schedule. */
export const WebhookCreate = z
  .object({
    url: WebhookUrl,
    /** Omitted: one is made (when the server can seal it) and shown once, in the answer. */
    secret: WebhookSecret.optional(),
    events: z.array(WebhookEventType).min(1),
    /** Only the runs this schedule starts. */
    scheduleId: z.string().min(1).max(200).optional(),
  })
  .strict();
export type WebhookCreate = z.infer<typeof WebhookCreate>;

/** A subscription as it is shown (never its secret, but once when made). */
export const Webhook = z
  .object({
    id: WebhookId,
    url: z.string(),
    events: z.array(WebhookEventType),
    scheduleId: z.string().optional(),
    signed: z.boolean(),
    createdAt: z.string(),
  })
  .strict();
export type Webhook = z.infer<typeof Webhook>;

export const WebhookCreated = Webhook.extend({ secret: z.string().optional() }).strict();
export const WebhookList = z.object({ webhooks: z.array(Webhook) }).strict();

/** What a webhook is sent: `id` is the same on every retry (deduplicate on it). */
export const WebhookEvent = z
  .object({
    id: z.string(),
    type: WebhookEventType,
    createdAt: z.string(),
    workspace: z.string(),
    runId: z.string(),
    stepId: z.string().optional(),
    data: z.record(z.string(), z.unknown()),
  })
  .strict();
export type WebhookEvent = z.infer<typeof WebhookEvent>;

/** One delivery attempt. `refused`: egress did not allow the URL (not retried). */
export const WebhookDelivery = z
  .object({
    eventId: z.string(),
    type: WebhookEventType,
    attempt: z.number().int(),
    at: z.string(),
    outcome: z.enum(['delivered', 'failed', 'refused']),
    httpStatus: z.number().int().optional(),
    durationMs: z.number().int(),
    error: z.string().optional(),
  })
  .strict();
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

export const WebhookDeliveryList = z.object({ deliveries: z.array(WebhookDelivery) }).strict();
