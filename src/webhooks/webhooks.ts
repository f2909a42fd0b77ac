/**
 * Webhooks: a workspace's subscriptions (made, listed, deleted), a run's own webhook (kept
 * with its run at submission), and `notify`, which the event sources call (the finisher's
 * listener for run.finished, the engine for an approval's step.waiting and a budget.warning, a
 * run budget's or an envelope's):
 * one delivery job per webhook and event on the `webhooks` queue, its job id made of both, so
 * the same event notified twice is delivered once. Secrets are sealed with the Keyring (bound
 * to `webhook:<workspace>/<id>`), never put in job data, and shown once: when made.
 */
import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Keyring } from '../agents/keyring.js';
import type { EgressConfig } from '../config/egress-env.js';
import { NotFoundError, ValidationError } from '../errors/index.js';
import { ruleBroken } from '../net/egress.js';
import type { RunBudgetWarning } from '../model/budget.js';
import type { RunWebhook, Webhook, WebhookCreate, WebhookDelivery, WebhookEvent } from '../model/webhook.js';
import type { Scope } from '../store/scope.js';
import type { WebhookRecord, WebhookRecords } from '../store/webhook-records.js';
import { deliveryJobOptions, type DeliveryJob } from './delivery-job.js';

export interface WebhooksDeps {
  records: WebhookRecords;
  keyring: Keyring;
  /** The cell's `webhooks` queue. */
  queue: Queue<DeliveryJob>;
  /** Where deliveries may go: a URL the rules refuse is a 422 when the webhook is made. */
  egress: EgressConfig;
  /** What an event adds from its run: its schedule (for the subscriptions to one) and its error. Read only when a webhook wants the event. */
  runOf: (scope: Scope, runId: string) => Promise<{ scheduleId: string | null; error: string | null }>;
}

/** An event as a source gives it: its id follows from what happened, so a repeat is the same event. */
export type EventNotice = Omit<WebhookEvent, 'createdAt' | 'workspace'>;

/** A run budget's own 80% warning (given once per run): one event, whichever write reported it. */
export const runBudgetWarningNotice = (runId: string, warning: RunBudgetWarning): EventNotice => ({
  id: `${runId}.budget.warning.run`,
  type: 'budget.warning',
  runId,
  data: { ...warning },
});

export const sealContext = (scope: Scope, id: string): string => `webhook:${scope.workspace}/${id}`;

export class Webhooks {
  constructor(private readonly deps: WebhooksDeps) {}

  /** A subscription; without a secret one is made (when the server can seal one) and shown here only. */
  async create(scope: Scope, req: WebhookCreate): Promise<Webhook & { secret?: string }> {
    this.allowed(req.url, 'url');
    const id = `wh_${randomBytes(8).toString('hex')}`;
    const secret = req.secret ?? (this.deps.keyring.canSeal ? `whsec_${randomBytes(24).toString('base64url')}` : undefined);
    const record: WebhookRecord = {
      id,
      url: req.url,
      events: req.events,
      ...(req.scheduleId ? { scheduleId: req.scheduleId } : {}),
      ...(secret ? { sealed: this.deps.keyring.seal(secret, sealContext(scope, id), 'secret') } : {}),
      createdAt: new Date().toISOString(),
    };
    await this.deps.records.put(scope, record);
    return { ...shown(record), ...(req.secret === undefined && secret ? { secret } : {}) };
  }

  async list(scope: Scope): Promise<Webhook[]> {
    return (await this.deps.records.list(scope)).map(shown);
  }

  async remove(scope: Scope, id: string): Promise<void> {
    if (id.startsWith('run-') || !(await this.deps.records.remove(scope, id)))
      throw new NotFoundError(`workspace "${scope.workspace}" has no webhook subscription "${id}"`);
  }

  /** A webhook's delivery attempts, newest first. */
  async deliveries(scope: Scope, id: string): Promise<WebhookDelivery[]> {
    if (!(await this.deps.records.get(scope, id))) throw new NotFoundError(`workspace "${scope.workspace}" has no webhook "${id}"`);
    return this.deps.records.deliveries(scope, id);
  }

  /** The secret of a run's webhook sealed now (a 422 without SWITCHYARD_SECRETS_KEY), before the run exists. */
  sealRun(scope: Scope, spec: RunWebhook): (runId: string) => Promise<void> {
    this.allowed(spec.url, 'webhook.url');
    return async (runId) => {
      const id = `run-${runId}`;
      const sealed = spec.secret === undefined ? undefined : this.deps.keyring.seal(spec.secret, sealContext(scope, id), 'webhook.secret');
      await this.deps.records.putRun(scope, runId, {
        url: spec.url,
        events: spec.events ?? ['run.finished'],
        ...(sealed ? { sealed } : {}),
        createdAt: new Date().toISOString(),
      });
    };
  }

  /** A 422 naming the rule when egress refuses `url` as written (what it resolves to is checked as each delivery connects). */
  private allowed(url: string, path: string): void {
    const broken = ruleBroken(new URL(url), this.deps.egress);
    if (broken) throw new ValidationError(`${path}: egress refused: ${broken}`, [{ path, message: `egress refused: ${broken}` }]);
  }

  /** Queue a delivery of `notice` to each webhook that wants it: the run's own, the workspace's. */
  async notify(scope: Scope, notice: EventNotice): Promise<number> {
    const { run, subscriptions } = await this.deps.records.targets(scope, notice.runId);
    const candidates = [...(run ? [run] : []), ...subscriptions].filter((w) => w.events.includes(notice.type));
    if (candidates.length === 0) return 0;
    const of = await this.deps.runOf(scope, notice.runId);
    const targets = candidates.filter((w) => !w.scheduleId || w.scheduleId === of.scheduleId);
    if (targets.length === 0) return 0;
    const data = notice.type === 'run.finished' ? { ...notice.data, error: of.error } : notice.data;
    const event: WebhookEvent = { ...notice, data, workspace: scope.workspace, createdAt: new Date().toISOString() };
    await this.deps.queue.addBulk(
      targets.map((t) => ({ name: event.type, data: { workspace: scope.workspace, webhookId: t.id, event }, opts: deliveryJobOptions(t.id, event.id) })),
    );
    return targets.length;
  }
}

function shown(r: WebhookRecord): Webhook {
  return {
    id: r.id,
    url: r.url,
    events: r.events,
    ...(r.scheduleId ? { scheduleId: r.scheduleId } : {}),
    signed: r.sealed !== undefined,
    createdAt: r.createdAt,
  };
}
