/**
 * The admin API of API keys (`admin` scope): POST /v1/keys makes one (the key is in the answer,
 * and never again), GET /v1/keys lists them (never a key or its hash), DELETE /v1/keys/:id
 * revokes one. The same as `npm run keys -- create|list|revoke`.
 */
import type { Router } from 'express';
import type { ApiKeys } from '../../auth/api-keys.js';
import type { Auditor } from '../audit.js';
import { CreateKeyBody, KeyId, KeysQuery } from '../admin-schemas.js';
import { parseOr422 } from '../errors.js';
import { apiRouter } from '../route.js';
import { CreatedKey, KeyList, KeyView } from '../admin-responses.js';

export function keysRouter({ keys, audit }: { keys: ApiKeys; audit: Auditor }): Router {
  const r = apiRouter();
  r.post(
    '/',
    'admin',
    { summary: 'Make an API key (shown in this answer only)', body: CreateKeyBody, responses: { 201: CreatedKey } },
    async (req, res, { body }) => {
      const { key, view } = await keys.create({
        workspace: body.workspace,
        scopes: body.scopes,
        ...(body.expires !== undefined ? { expiresAt: new Date(Date.now() + body.expires) } : {}),
        ...(body.name ? { name: body.name } : {}),
      });
      await audit(req, res, {
        action: 'key.created',
        workspace: view.workspace,
        target: view.id,
        details: { scopes: view.scopes, ...(view.expiresAt ? { expiresAt: view.expiresAt } : {}) },
      });
      res.status(201).json({ ...view, key });
    },
  );
  r.get(
    '/',
    'admin',
    { summary: 'List API keys (never a key or its hash)', query: KeysQuery, responses: { 200: KeyList } },
    async (_req, res, { query: { workspace } }) => {
      res.json({ keys: await keys.list(workspace) });
    },
  );
  r.delete('/:id', 'admin', { summary: 'Revoke an API key', params: { id: KeyId }, responses: { 200: KeyView } }, async (req, res) => {
    const id = parseOr422(KeyId, req.params.id, 'id');
    const view = await keys.revoke(id);
    await audit(req, res, { action: 'key.revoked', workspace: view.workspace, target: view.id });
    res.json(view);
  });
  return r.router;
}
