import type { Router } from 'express';
import type { RunQueries } from '../../query/run-queries.js';
import { requestScope } from '../scope.js';
import { apiRouter } from '../route.js';
import { sendJson } from '../json-body.js';
import { RunId } from '../schemas.js';
import { RunMessages } from '../insight-responses.js';

/** GET /v1/runs/:id/messages: the traffic between the agents of a run (see src/query/agent-messages.ts). */
export function runMessagesRouter({ queries }: { queries: RunQueries }): Router {
  const r = apiRouter();
  r.get(
    '/:id/messages',
    'runs:read',
    {
      summary: "The traffic between a run's agents, in order: delegations and answers, tool calls and results, votes, context publishes, feedback",
      description:
        "Seed 002's AgentMessage {fromAgent, toAgent, messageType, content, metadata, timestamp}, derived from the run's steps, their tool calls and its event log.",
      params: { id: RunId },
      responses: { 200: RunMessages },
    },
    async (req, res) => {
      await sendJson(res, await queries.messages(requestScope(res), req.params.id!));
    },
  );
  return r.router;
}
