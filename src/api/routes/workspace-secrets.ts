/**
 * A workspace's secrets (`admin`, as its caps and keys are): PUT /v1/workspaces/:id/secrets/:name
 * `{value}` sets one (sealed under SWITCHYARD_SECRETS_KEY; without it a 422), GET
 * /v1/workspaces/:id/secrets lists their names and when each was set (never a value), DELETE
 * removes one. Its HTTP tools and MCP servers use them as `{{ secrets.NAME }}`. See docs/tools-http.md.
 */
import type { Router } from 'express';
import type { WorkspaceSecrets } from '../../agents/workspace-secrets.js';
import { CredentialWorkspace } from '../../auth/principal.js';
import { NotFoundError } from '../../errors/index.js';
import { SecretEntry, SecretList, SecretName, SecretSet } from '../../model/workspace-secret.js';
import type { Scope } from '../../store/scope.js';
import type { Auditor } from '../audit.js';
import { parseOr422 } from '../errors.js';
import { apiRouter } from '../route.js';

export interface WorkspaceSecretsDeps {
  secrets: WorkspaceSecrets;
  /** The scope of a workspace id in its cell. */
  scope: (workspace: string) => Scope;
  audit: Auditor;
}

export function workspaceSecretsRouter({ secrets, scope, audit }: WorkspaceSecretsDeps): Router {
  const r = apiRouter();
  const workspaceOf = (id: string | undefined) => scope(parseOr422(CredentialWorkspace, id, 'id'));
  const nameOf = (name: string | undefined) => parseOr422(SecretName, name, 'name');
  const one = { id: CredentialWorkspace, name: SecretName };

  r.get(
    '/:id/secrets',
    'admin',
    { summary: "A workspace's secrets: names and when each was set, never a value", params: { id: CredentialWorkspace }, responses: { 200: SecretList } },
    async (req, res) => {
      res.json({ secrets: await secrets.list(workspaceOf(req.params.id)) });
    },
  );
  r.put(
    '/:id/secrets/:name',
    'admin',
    {
      summary: 'Set a secret of a workspace (sealed at rest; never shown again)',
      params: one,
      body: SecretSet,
      responses: { 200: SecretEntry, 201: SecretEntry },
    },
    async (req, res, { body }) => {
      const s = workspaceOf(req.params.id);
      const name = nameOf(req.params.name);
      const { entry, created } = await secrets.set(s, name, body.value);
      await audit(req, res, { action: 'secret.set', workspace: s.workspace, target: name, details: { created } });
      res.status(created ? 201 : 200).json(entry);
    },
  );
  r.delete('/:id/secrets/:name', 'admin', { summary: 'Delete a secret of a workspace', params: one, responses: { 204: null } }, async (req, res) => {
    const s = workspaceOf(req.params.id);
    const name = nameOf(req.params.name);
    if (!(await secrets.remove(s, name))) throw new NotFoundError(`workspace "${s.workspace}" has no secret "${name}"`);
    await audit(req, res, { action: 'secret.removed', workspace: s.workspace, target: name });
    res.status(204).end();
  });
  return r.router;
}
