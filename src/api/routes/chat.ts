/**
 * POST /v1/chat/multi (seed 004): one message to several agents, as a run. `parallel` and
 * `sequential` are the collaboration patterns of the same names; `orchestrated` is an
 * orchestrator step: the first agent leads, with the others as the agents it may delegate to.
 */
import type { Router } from 'express';
import type { Submissions } from '../../submit/submissions.js';
import { requestScope } from '../scope.js';
import { patternWorkflow } from '../../compile/patterns.js';
import { ErrorBody, SubmitAnswer } from '../responses.js';
import { apiRouter } from '../route.js';
import { ChatMulti } from '../schemas.js';
import type { Auditor } from '../audit.js';

export function chatRouter({ submissions, audit }: { submissions: Submissions; audit: Auditor }): Router {
  const r = apiRouter();
  r.post(
    '/multi',
    'runs:write',
    {
      summary: 'One message to several agents, as a run (parallel, sequential or orchestrated)',
      body: ChatMulti,
      responses: { 202: SubmitAnswer, 200: SubmitAnswer, 409: ErrorBody },
    },
    async (req, res, { body: { message, agents, mode, idempotencyKey, priority, budget } }) => {
      const tasks = agents.map((agent) => ({ agent, task: message }));
      const workflow =
        mode === 'orchestrated'
          ? {
              name: 'chat-orchestrated',
              description: `${agents[0]} leads ${agents.slice(1).join(', ')}`,
              steps: [{ id: 'leader', agent: agents[0], delegates: agents.slice(1), input: { task: message } }],
            }
          : patternWorkflow(mode === 'parallel' ? { pattern: 'parallel', tasks, strict: false } : { pattern: 'sequential', tasks, strict: true });
      const result = await submissions.submitWorkflow(
        requestScope(res),
        workflow,
        {},
        { ...(idempotencyKey ? { idempotencyKey } : {}), ...(priority ? { priority } : {}), ...(budget ? { budget } : {}) },
      );
      if (result.created) await audit(req, res, { action: 'run.submitted', target: result.id, details: { chat: mode, agents } });
      res
        .status(result.created ? 202 : 200)
        .location(`/v1/runs/${result.id}`)
        .json({ id: result.id, status: result.status, mode, ...(result.created ? {} : { idempotentReplay: true }) });
    },
  );
  return r.router;
}
