/**
 * POST /v1/chat/multi (seed 004): one message to several agents, as a run. `parallel` and
 * `sequential` are the collaboration patterns of the same names; `orchestrated` is an
 * orchestrator step: the first agent leads, with the others as the agents it may delegate to.
 */
import type { Router } from 'express';
import type { Submissions } from '../../submit/submissions.js';
import { requestScope } from '../scope.js';
import { patternWorkflow } from '../../compile/patterns.js';
import { ErrorBody, SubmitAnswer, SubmittedOrFinished } from '../responses.js';
import { WAIT_DESCRIPTION, waitQuery, type RunEndWaiter } from '../wait.js';
import { answerSubmitted, submitOptionsOf } from '../submitted.js';
import type { Webhooks } from '../../webhooks/webhooks.js';
import { DEFAULT_BOUNDS } from '../../config/env.js';
import { apiRouter } from '../route.js';
import { ChatMulti } from '../schemas.js';
import type { Auditor } from '../audit.js';

export interface ChatRouterDeps {
  submissions: Submissions;
  /** Where a chat's own `webhook` is stored (its secret sealed). */
  webhooks?: Pick<Webhooks, 'sealRun'> | undefined;
  /** Waits for a run's end (`?wait`). */
  queries: RunEndWaiter;
  audit: Auditor;
  /** Fires when the process shuts down: waits end. */
  shutdownSignal?: AbortSignal | undefined;
  /** Longest `?wait`, seconds (default: SWITCHYARD_MAX_WAIT_SECONDS's). */
  maxWaitSeconds?: number | undefined;
}

export function chatRouter({ submissions, webhooks, queries, audit, shutdownSignal, maxWaitSeconds }: ChatRouterDeps): Router {
  const r = apiRouter();
  r.post(
    '/multi',
    'runs:write',
    {
      summary: 'One message to several agents, as a run (parallel, sequential or orchestrated)',
      description: `202 with the new run; 200 with \`idempotentReplay\` when \`idempotencyKey\` names a run already made. ${WAIT_DESCRIPTION}`,
      query: waitQuery(maxWaitSeconds ?? DEFAULT_BOUNDS.maxWaitSeconds),
      body: ChatMulti,
      responses: { 202: SubmitAnswer, 200: SubmittedOrFinished, 409: ErrorBody },
    },
    async (req, res, { query, body }) => {
      const { message, agents, mode } = body;
      const tasks = agents.map((agent) => ({ agent, task: message }));
      const workflow =
        mode === 'orchestrated'
          ? {
              name: 'chat-orchestrated',
              description: `${agents[0]} leads ${agents.slice(1).join(', ')}`,
              steps: [{ id: 'leader', agent: agents[0], delegates: agents.slice(1), input: { task: message } }],
            }
          : patternWorkflow(mode === 'parallel' ? { pattern: 'parallel', tasks, strict: false } : { pattern: 'sequential', tasks, strict: true });
      const scope = requestScope(res);
      const result = await submissions.submitWorkflow(scope, workflow, {}, submitOptionsOf(res, scope, body, webhooks));
      if (result.created) await audit(req, res, { action: 'run.submitted', target: result.id, details: { chat: mode, agents } });
      await answerSubmitted(queries, res, { scope, result, seconds: query.wait, shutdownSignal }, { mode });
    },
  );
  return r.router;
}
