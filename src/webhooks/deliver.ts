/**
 * The processor of a delivery job: the webhook's record read (a subscription deleted meanwhile:
 * nothing to do), its secret opened, the event POSTed once through the outbound client (egress
 * checked before connecting), signed, with the event id as `Idempotency-Key`, and the attempt
 * recorded (outcome, HTTP status, duration, error). A 2xx is delivered; anything else throws, and
 * BullMQ tries again after the backoff; a refused egress is recorded and not retried.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import { SealedValueError, type Keyring } from '../agents/keyring.js';
import type { Logger } from '../logger.js';
import type { WebhookDelivery } from '../model/webhook.js';
import { NonRetryableError } from '../errors/index.js';
import type { Outbound } from '../net/outbound.js';
import type { Scope } from '../store/scope.js';
import type { WebhookRecords } from '../store/webhook-records.js';
import type { DeliveryJob } from './delivery-job.js';
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';
import { sealContext } from './webhooks.js';

export interface DeliverDeps {
  records: WebhookRecords;
  keyring: Keyring;
  outbound: Outbound;
  scope: (workspace: string) => Scope;
  logger: Logger;
  /** Each try's timeout, ms. @default 10000 */
  timeoutMs?: number;
}

/** A delivery answered with something other than a 2xx, or not at all: BullMQ tries it again. */
export class DeliveryFailedError extends Error {}

export function createDeliveryProcessor(deps: DeliverDeps): (job: Job<DeliveryJob>) => Promise<void> {
  return async (job) => {
    const { workspace, webhookId, event } = job.data;
    const scope = deps.scope(workspace);
    const hook = await deps.records.get(scope, webhookId);
    if (!hook) return;
    let secret: string | undefined;
    try {
      secret = hook.sealed === undefined ? undefined : deps.keyring.open(hook.sealed, sealContext(scope, webhookId));
    } catch (err) {
      // Its key is gone (or the record was altered): trying again cannot help; never signed with anything else.
      if (!(err instanceof SealedValueError)) throw err;
      await deps.records.recordDelivery(scope, webhookId, {
        eventId: event.id,
        type: event.type,
        attempt: job.attemptsMade + 1,
        at: new Date().toISOString(),
        outcome: 'failed',
        durationMs: 0,
        error: `the webhook's secret does not open: ${err.message}`,
      });
      throw new UnrecoverableError(`the secret of webhook ${webhookId} does not open`);
    }
    const body = JSON.stringify(event);
    const headers: Record<string, string> = { 'user-agent': 'Switchyard-Webhooks/1', 'x-switchyard-event': event.type, 'x-switchyard-event-id': event.id };
    if (secret !== undefined) headers[SIGNATURE_HEADER] = signatureHeader(secret, body);
    const attempt = job.attemptsMade + 1;
    const started = Date.now();
    const record = (r: Pick<WebhookDelivery, 'outcome'> & Partial<WebhookDelivery>) =>
      deps.records.recordDelivery(scope, webhookId, {
        eventId: event.id,
        type: event.type,
        attempt,
        at: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        ...r,
      });
    let status: number;
    try {
      // `body` is the event's JSON exactly as signed: the client sends JSON.stringify(event).
      const res = await deps.outbound({
        url: hook.url,
        method: 'POST',
        body: event,
        headers,
        idempotencyKey: event.id,
        attempts: 1,
        timeoutMs: deps.timeoutMs ?? 10_000,
        maxBytes: 4096,
      });
      status = res.status;
    } catch (err) {
      const message = (err as Error).message;
      // A refused egress (or a URL that cannot be called): trying again cannot help.
      if (err instanceof NonRetryableError) {
        await record({ outcome: 'refused', error: message });
        throw new UnrecoverableError(message);
      }
      await record({ outcome: 'failed', error: message });
      throw new DeliveryFailedError(message);
    }
    if (status >= 200 && status < 300) return void (await record({ outcome: 'delivered', httpStatus: status }));
    await record({ outcome: 'failed', httpStatus: status, error: `answered ${status}` });
    deps.logger.info({ webhookId, eventId: event.id, status, attempt }, 'webhook delivery failed; will retry');
    throw new DeliveryFailedError(`the webhook answered ${status}`);
  };
}
