/**
 * The agents a workspace sees: the shared ones of the agents file and its own, created over the
 * API (src/agents/workspace-agents.ts). The scope each route needs is named on its line:
 * `runs:read` to read, `agents:write` to create, change, delete and test.
 */
import type { Router } from 'express';
import { AgentTestError, type WorkspaceAgents } from '../../agents/workspace-agents.js';
import { HttpError, parseOr422 } from '../errors.js';
import { apiRouter } from '../route.js';
import { requestScope } from '../scope.js';
import { AgentBody, AgentChanges, AgentTestBody, AgentsQuery } from '../schemas.js';

export function agentsRouter({ agents }: { agents: WorkspaceAgents }): Router {
  const r = apiRouter();
  // runs:read
  r.get('/', AgentsQuery, async (_req, res, { include }) => {
    res.json({ agents: await agents.list(requestScope(res), { prompts: include.includes('prompts') }) });
  });
  // runs:read
  r.get('/:name', AgentsQuery, async (req, res, { include }) => {
    res.json(await agents.describe(requestScope(res), req.params.name!, { prompts: include.includes('prompts') }));
  });
  // agents:write
  r.post('/', async (req, res) => {
    res.status(201).json(await agents.create(requestScope(res), parseOr422(AgentBody, req.body ?? {})));
  });
  // agents:write
  r.patch('/:name', async (req, res) => {
    res.json(await agents.update(requestScope(res), req.params.name!, parseOr422(AgentChanges, req.body ?? {})));
  });
  // agents:write
  r.delete('/:name', async (req, res) => {
    await agents.remove(requestScope(res), req.params.name!);
    res.status(204).end();
  });
  // agents:write
  r.post('/:name/test', async (req, res) => {
    const { prompt } = parseOr422(AgentTestBody, req.body ?? {});
    const stop = new AbortController();
    res.on('close', () => stop.abort());
    try {
      res.json(await agents.test(requestScope(res), req.params.name!, prompt, stop.signal));
    } catch (err) {
      if (err instanceof AgentTestError) throw new HttpError(502, 'agent_test_failed', err.message);
      throw err;
    }
  });
  return r.router;
}
