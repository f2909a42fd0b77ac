/**
 * A workspace's spend envelope (model/envelope.ts): what all its runs may spend per UTC day.
 * PUT /v1/workspaces/:id/envelope sets it and DELETE removes it (`admin`, as keys are managed);
 * GET shows it with today's counters (spent, reserved by calls in flight, the 80% warning), and
 * those of the workspace's keys that have one: for an admin, or a credential of that workspace
 * with `runs:read` (which sees its own key's only). Another workspace answers 404.
 */
import type { Router } from 'express';
import type { ApiKeys } from '../../auth/api-keys.js';
import { holds } from '../../auth/principal.js';
import { NotFoundError } from '../../errors/index.js';
import { excerpt } from '../../errors/excerpt.js';
import { Envelope, WorkspaceParam } from '../../model/envelope.js';
import type { Envelopes } from '../../store/envelopes.js';
import { scopeOf, type Cell } from '../../store/scope.js';
import type { Auditor } from '../audit.js';
import { parseOr422 } from '../errors.js';
import { apiRouter } from '../route.js';
import { EnvelopeAnswer } from '../admin-responses.js';
import { requestPrincipal } from '../scope.js';

export interface WorkspaceEnvelopesDeps {
  envelopes: Envelopes;
  keys: ApiKeys;
  cell: Cell;
  audit: Auditor;
}

export function workspaceEnvelopesRouter({ envelopes, keys, cell, audit }: WorkspaceEnvelopesDeps): Router {
  const r = apiRouter();
  const workspaceOf = (id: string | undefined) => scopeOf(cell, parseOr422(WorkspaceParam, id, 'id'));

  const params = { id: WorkspaceParam };
  r.get(
    '/:id/envelope',
    'runs:read',
    { summary: "A workspace's spend envelope with today's counters, and its keys'", params, responses: { 200: EnvelopeAnswer } },
    async (req, res) => {
      const scope = workspaceOf(req.params.id);
      const principal = requestPrincipal(res);
      const admin = holds(principal, 'admin');
      if (!admin && principal.workspace !== scope.workspace) throw new NotFoundError(`no workspace "${excerpt(scope.workspace, 64)}"`);
      const [envelope, today, all] = await Promise.all([envelopes.get(scope), envelopes.today(scope, undefined), keys.list(scope.workspace)]);
      const keyed = all.filter((k) => k.envelope && (admin || k.id === principal.id));
      res.json({
        workspace: scope.workspace,
        envelope: envelope ?? null,
        today,
        keys: await Promise.all(
          keyed.map(async (k) => ({
            id: k.id,
            ...(k.name ? { name: k.name } : {}),
            status: k.status,
            envelope: k.envelope,
            today: await envelopes.today(scope, k.id),
          })),
        ),
      });
    },
  );

  r.put(
    '/:id/envelope',
    'admin',
    { summary: "Set a workspace's spend envelope (per UTC day)", params, body: Envelope, responses: { 200: EnvelopeAnswer } },
    async (req, res, { body: envelope }) => {
      const scope = workspaceOf(req.params.id);
      await envelopes.set(scope, undefined, envelope);
      await audit(req, res, { action: 'envelope.changed', workspace: scope.workspace, target: scope.workspace, details: { envelope } });
      res.json({ workspace: scope.workspace, envelope, today: await envelopes.today(scope, undefined) });
    },
  );

  r.delete('/:id/envelope', 'admin', { summary: "Remove a workspace's spend envelope", params, responses: { 200: EnvelopeAnswer } }, async (req, res) => {
    const scope = workspaceOf(req.params.id);
    if (!(await envelopes.remove(scope))) throw new NotFoundError(`workspace "${scope.workspace}" has no envelope`);
    await audit(req, res, { action: 'envelope.removed', workspace: scope.workspace, target: scope.workspace });
    res.json({ workspace: scope.workspace, envelope: null });
  });
  return r.router;
}
