/**
 * The agents a workspace sees: the shared ones of the agents file and its own, created over the
 * API (src/agents/workspace-agents.ts). Each route declares the scope it needs: `runs:read` to
 * read, `agents:write` to create, change, delete and test; the system prompts (`?include=prompts`)
 * are shown only to a credential that may change them (`agents:write`). Every write and test is
 * audited (the agent's name and what changed: field names, never a key).
 */
import type { Response, Router } from 'express';
import { AgentTestError, type WorkspaceAgents } from '../../agents/workspace-agents.js';
import type { Auditor } from '../audit.js';
import { HttpError } from '../errors.js';
import { AgentList, AgentTestAnswer, AgentView } from '../admin-responses.js';
import { ErrorBody } from '../responses.js';
import { AgentName } from '../../model/agent.js';
import { apiRouter } from '../route.js';
import { holds } from '../../auth/principal.js';
import { requestPrincipal, requestScope } from '../scope.js';
import { AgentBody, AgentChanges, AgentListQuery, AgentTestBody, AgentsQuery } from '../schemas.js';
import { agentsWith } from '../../submit/routing.js';

/** `?include=prompts` from a credential without `agents:write` is a 403 naming it (prompts are how agents are configured). */
function showPrompts(res: Response, include: readonly string[]): boolean {
  if (!include.includes('prompts')) return false;
  if (!holds(requestPrincipal(res), 'agents:write')) {
    throw new HttpError(403, 'forbidden', 'include=prompts needs the scope agents:write (system prompts are shown only to who may change them)');
  }
  return true;
}

export function agentsRouter({ agents, audit }: { agents: WorkspaceAgents; audit: Auditor }): Router {
  const r = apiRouter();
  const agent = { name: AgentName };
  r.get(
    '/',
    'runs:read',
    {
      summary: 'The agents the workspace sees: the shared ones and its own (`capability`: only those that declare it)',
      query: AgentListQuery,
      responses: { 200: AgentList },
    },
    async (_req, res, { query: { include, capability } }) => {
      const all = await agents.list(requestScope(res), { prompts: showPrompts(res, include) });
      res.json({ agents: capability === undefined ? all : agentsWith(all, capability) });
    },
  );
  r.get(
    '/:name',
    'runs:read',
    { summary: 'One agent', params: agent, query: AgentsQuery, responses: { 200: AgentView } },
    async (req, res, { query: { include } }) => {
      res.json(await agents.describe(requestScope(res), req.params.name!, { prompts: showPrompts(res, include) }));
    },
  );
  r.post(
    '/',
    'agents:write',
    {
      summary: 'Create a workspace agent: its fields as in the agents file, and its provider key (optional, stored sealed)',
      body: AgentBody,
      responses: { 201: AgentView, 409: ErrorBody },
    },
    async (req, res, { body }) => {
      const view = await agents.create(requestScope(res), body);
      await audit(req, res, {
        action: 'agent.created',
        target: view.name,
        details: { provider: view.provider, model: view.model, apiKey: view.apiKey === 'set' },
      });
      res.status(201).json(view);
    },
  );
  r.patch(
    '/:name',
    'agents:write',
    { summary: "Change a workspace agent's fields (`null` removes one)", params: agent, body: AgentChanges, responses: { 200: AgentView, 409: ErrorBody } },
    async (req, res, { body: changes }) => {
      const view = await agents.update(requestScope(res), req.params.name!, changes);
      await audit(req, res, { action: 'agent.changed', target: view.name, details: { fields: Object.keys(changes), version: view.version } });
      res.json(view);
    },
  );
  r.delete('/:name', 'agents:write', { summary: 'Delete a workspace agent', params: agent, responses: { 204: null } }, async (req, res) => {
    await agents.remove(requestScope(res), req.params.name!);
    await audit(req, res, { action: 'agent.removed', target: req.params.name! });
    res.status(204).end();
  });
  r.post(
    '/:name/test',
    'agents:write',
    {
      summary: 'Call an agent once with a prompt (502 when its provider does not answer)',
      params: agent,
      body: AgentTestBody,
      responses: { 200: AgentTestAnswer, 502: ErrorBody },
    },
    async (req, res, { body: { prompt } }) => {
      const stop = new AbortController();
      res.on('close', () => stop.abort());
      try {
        const result = await agents.test(requestScope(res), req.params.name!, prompt, stop.signal);
        await audit(req, res, { action: 'agent.tested', target: result.agent, details: { ok: true, model: result.model, latencyMs: result.latencyMs } });
        res.json(result);
      } catch (err) {
        if (!(err instanceof AgentTestError)) throw err;
        await audit(req, res, { action: 'agent.tested', target: req.params.name!, details: { ok: false, latencyMs: err.latencyMs } });
        throw new HttpError(502, 'agent_test_failed', err.message);
      }
    },
  );
  return r.router;
}
