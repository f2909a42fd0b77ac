/**
 * A workspace's caps (`admin` scope): GET /v1/workspaces/:id/limits says the caps in force, the
 * workspace's own and the defaults; PUT sets its own (`{maxRunningSteps?, maxRunningRuns?}`, a
 * number from 1, or null for the default again; a cap not given is left as it is). A process
 * sees a change within a second. See docs/budgets-and-limits.md#fair-sharing-and-workspace-caps.
 */
import type { Router } from 'express';
import { CredentialWorkspace } from '../../auth/principal.js';
import { WorkspaceLimitsUpdate, type WorkspaceCaps, type WorkspaceLimitsView } from '../../model/workspace-limits.js';
import type { Scope } from '../../store/scope.js';
import type { WorkspaceCapsStore } from '../../store/workspace-caps.js';
import type { Auditor } from '../audit.js';
import { parseOr422 } from '../errors.js';
import { apiRouter } from '../route.js';
import { WorkspaceLimitsAnswer } from '../admin-responses.js';

export interface WorkspaceLimitsDeps {
  caps: WorkspaceCapsStore;
  /** The scope of a workspace id in this process's cell. */
  scope: (workspace: string) => Scope;
  audit: Auditor;
}

export function workspaceLimitsRouter({ caps, scope, audit }: WorkspaceLimitsDeps): Router {
  const r = apiRouter();
  const view = (workspace: string, own: Partial<WorkspaceCaps>): WorkspaceLimitsView => ({
    workspace,
    effective: { ...caps.defaults, ...own },
    own,
    defaults: caps.defaults,
  });
  const params = { id: CredentialWorkspace };
  r.get(
    '/:id/limits',
    'admin',
    { summary: "A workspace's caps: in force, its own, the defaults", params, responses: { 200: WorkspaceLimitsAnswer } },
    async (req, res) => {
      const workspace = parseOr422(CredentialWorkspace, req.params.id, 'id');
      res.json(view(workspace, await caps.own(scope(workspace))));
    },
  );
  r.put(
    '/:id/limits',
    'admin',
    { summary: "Set a workspace's own caps (null: the default again)", params, body: WorkspaceLimitsUpdate, responses: { 200: WorkspaceLimitsAnswer } },
    async (req, res, { body: update }) => {
      const workspace = parseOr422(CredentialWorkspace, req.params.id, 'id');
      const own = await caps.setOwn(scope(workspace), update);
      await audit(req, res, { action: 'workspace.limits_changed', workspace, target: workspace, details: { ...update } });
      res.json(view(workspace, own));
    },
  );
  return r.router;
}
