/**
 * A workspace's webhook subscriptions: POST /v1/webhooks `{url, secret?, events, scheduleId?}`
 * (the secret sealed; one made and shown once when none is given), GET /v1/webhooks, DELETE
 * /v1/webhooks/:id, and GET /v1/webhooks/:id/deliveries (each attempt, newest first; a run's
 * own webhook is `run-<run id>`). See docs/webhooks.md.
 */
import type { Router } from 'express';
import { WebhookCreate, WebhookCreated, WebhookDeliveryList, WebhookId, WebhookList } from '../../model/webhook.js';
import type { Webhooks } from '../../webhooks/webhooks.js';
import type { Auditor } from '../audit.js';
import { parseOr422 } from '../errors.js';
import { apiRouter } from '../route.js';
import { requestScope } from '../scope.js';

export interface WebhooksRouterDeps {
  webhooks: Pick<Webhooks, 'create' | 'list' | 'remove' | 'deliveries'>;
  audit: Auditor;
}

export function webhooksRouter({ webhooks, audit }: WebhooksRouterDeps): Router {
  const r = apiRouter();
  const idOf = (id: string | undefined) => parseOr422(WebhookId, id, 'id');
  const one = { id: WebhookId };

  r.post(
    '/',
    'runs:write',
    {
      summary: "Subscribe to the workspace's run events (or one schedule's): deliveries signed with the secret",
      description: 'Without `secret`, one is made and shown in this answer only (when the server has SWITCHYARD_SECRETS_KEY; else deliveries are unsigned).',
      body: WebhookCreate,
      responses: { 201: WebhookCreated },
    },
    async (req, res, { body }) => {
      const created = await webhooks.create(requestScope(res), body);
      await audit(req, res, { action: 'webhook.created', target: created.id, details: { events: created.events } });
      res.status(201).location(`/v1/webhooks/${created.id}`).json(created);
    },
  );
  r.get('/', 'runs:read', { summary: "The workspace's webhook subscriptions (never a secret)", responses: { 200: WebhookList } }, async (_req, res) => {
    res.json({ webhooks: await webhooks.list(requestScope(res)) });
  });
  r.delete('/:id', 'runs:write', { summary: 'Delete a webhook subscription and its deliveries', params: one, responses: { 204: null } }, async (req, res) => {
    const id = idOf(req.params.id);
    await webhooks.remove(requestScope(res), id);
    await audit(req, res, { action: 'webhook.removed', target: id });
    res.status(204).end();
  });
  r.get(
    '/:id/deliveries',
    'runs:read',
    { summary: "A webhook's delivery attempts, newest first (a run's own: run-<run id>)", params: one, responses: { 200: WebhookDeliveryList } },
    async (req, res) => {
      res.json({ deliveries: await webhooks.deliveries(requestScope(res), idOf(req.params.id)) });
    },
  );
  return r.router;
}
