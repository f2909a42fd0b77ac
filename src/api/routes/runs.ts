import type { Request, Response, Router } from 'express';
import type { RunQueries } from '../../query/run-queries.js';
import type { RunActions } from '../../submit/run-actions.js';
import type { Submissions } from '../../submit/submissions.js';
import type { RunEvent } from '../../model/run.js';
import { requestKeyId, requestScope } from '../scope.js';
import { HttpError, parseOr422 } from '../errors.js';
import { apiRouter } from '../route.js';
import { sendJson } from '../json-body.js';
import { NotFoundError } from '../../errors/index.js';
import { excerpt } from '../../errors/excerpt.js';
import { patternWorkflow } from '../../compile/patterns.js';
import {
  EventId,
  EventsQuery,
  FeedbackBody,
  GateDecisionBody,
  SubmitPatternRun,
  GetRunQuery,
  ListRunsQuery,
  RerunBody,
  RunId,
  RunStepIdParam,
  SubmitAgentRun,
  type SubmitRun,
  SubmitWorkflowRun,
} from '../schemas.js';
import { noShapeError } from '../submit-shapes.js';
import type { Auditor } from '../audit.js';

export interface RunsRouterDeps {
  submissions: Submissions;
  queries: RunQueries;
  actions: RunActions;
  /** Records submissions, cancels, reruns and approvals. */
  audit: Auditor;
  /** Fires when the process shuts down: open event streams end so the server can close. */
  shutdownSignal?: AbortSignal | undefined;
}

export function runsRouter({ submissions, queries, actions, audit, shutdownSignal }: RunsRouterDeps): Router {
  const r = apiRouter();
  // An id that cannot be a run's never reaches the store (it would name other keys).
  r.router.param('id', (_req, _res, next, id: string) => {
    if (!RunId.safeParse(id).success) throw new NotFoundError(`"${excerpt(id, 100)}" is not a run id (run ids look like run_0mx55q17idf6fdb956c48)`);
    next();
  });

  r.post('/', 'runs:write', async (req, res) => {
    // A body that is not a JSON object was answered already (app.ts); none at all is `{}`.
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (!('agent' in body || 'workflow' in body || 'pattern' in body)) throw noShapeError(body);
    if ('pattern' in body) {
      const { idempotencyKey, priority, budget, ...pattern } = parseOr422(SubmitPatternRun, body);
      const result = await submissions.submitWorkflow(
        requestScope(res),
        patternWorkflow(pattern),
        {},
        { ...(idempotencyKey ? { idempotencyKey } : {}), ...(priority ? { priority } : {}), ...(budget ? { budget } : {}), keyId: requestKeyId(res) },
      );
      if (result.created) await audit(req, res, { action: 'run.submitted', target: result.id, details: { pattern: pattern.pattern } });
      res
        .status(result.created ? 202 : 200)
        .location(`/v1/runs/${result.id}`)
        .json({ id: result.id, status: result.status, ...(result.created ? {} : { idempotentReplay: true }) });
      return;
    }
    // Pick the branch by its discriminating field so errors name the right fields.
    const parsed: SubmitRun = 'agent' in body ? parseOr422(SubmitAgentRun, body) : parseOr422(SubmitWorkflowRun, body);
    // The parsed body carries the submit options (idempotencyKey, priority); the key submitting is the request's.
    const opts = { ...parsed, keyId: requestKeyId(res) };
    const scope = requestScope(res);
    const result =
      'agent' in parsed
        ? await submissions.submitAgentTask(scope, parsed.agent, parsed.input, opts)
        : await submissions.submitWorkflow(scope, parsed.workflow, parsed.input, opts);
    if (result.created) {
      const what = 'agent' in parsed ? { agent: parsed.agent } : { workflow: typeof parsed.workflow === 'string' ? parsed.workflow : 'inline' };
      await audit(req, res, { action: 'run.submitted', target: result.id, details: what });
    }
    res
      .status(result.created ? 202 : 200)
      .location(`/v1/runs/${result.id}`)
      .json({ id: result.id, status: result.status, ...(result.created ? {} : { idempotentReplay: true }) });
  });

  // Runs (with their outputs) can hold more text than one string may: written in pieces.
  r.get('/', 'runs:read', ListRunsQuery, async (_req, res, query) => {
    await sendJson(res, await queries.list(requestScope(res), query));
  });

  r.get('/:id', 'runs:read', GetRunQuery, async (req, res, { include }) => {
    await sendJson(res, await queries.get(requestScope(res), req.params.id!, { definition: include.includes('definition') }));
  });

  r.get('/:id/context', 'runs:read', async (req, res) => {
    res.json(await queries.context(requestScope(res), req.params.id!));
  });

  r.post('/:id/cancel', 'runs:write', async (req, res) => {
    const answer = await actions.cancel(requestScope(res), req.params.id!);
    await audit(req, res, { action: 'run.cancelled', target: req.params.id! });
    res.json(answer);
  });

  r.post('/:id/rerun', 'runs:write', async (req, res) => {
    const body = parseOr422(RerunBody, req.body ?? {});
    const result = await submissions.rerun(requestScope(res), req.params.id!, body, { keyId: requestKeyId(res) });
    await audit(req, res, { action: 'run.rerun', target: result.id, details: { rerunOf: result.rerunOf } });
    res.status(202).location(`/v1/runs/${result.id}`).json({ id: result.id, status: result.status, rerunOf: result.rerunOf });
  });

  for (const [action, approved] of [
    ['approve', true],
    ['reject', false],
  ] as const) {
    r.post(`/:id/steps/:stepId/${action}`, 'runs:write', async (req, res) => {
      const stepId = parseOr422(RunStepIdParam, req.params.stepId, 'stepId');
      const body = parseOr422(GateDecisionBody, req.body ?? {});
      const answer = await actions.decide(requestScope(res), req.params.id!, stepId, { approved, ...body });
      await audit(req, res, { action: approved ? 'approval.given' : 'approval.refused', target: `${req.params.id!}.${stepId}` });
      res.json(answer);
    });
  }

  r.post('/:id/steps/:stepId/feedback', 'runs:write', async (req, res) => {
    const stepId = parseOr422(RunStepIdParam, req.params.stepId, 'stepId');
    const body = parseOr422(FeedbackBody, req.body ?? {});
    res.json(await actions.feedback(requestScope(res), req.params.id!, stepId, body));
  });

  r.get('/:id/events', 'runs:read', EventsQuery, (req, res, { after }) => streamEvents(queries, req as Request<{ id: string }>, res, after, shutdownSignal));

  return r.router;
}

const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' };
const sseFrame = (event: RunEvent) => `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
const KEEP_ALIVE_MS = 15_000;

/**
 * Server-Sent Events of a run's ordered event log, replayable from any point with
 * Last-Event-ID (or ?after=). The stream ends after `run.finished`. A run past Redis
 * retention is served from the archive (MongoDB), when one is configured.
 */
async function streamEvents(
  queries: RunQueries,
  req: Request<{ id: string }>,
  res: Response,
  afterParam: string | undefined,
  shutdownSignal?: AbortSignal,
): Promise<void> {
  const header = req.get('Last-Event-ID');
  const raw = header ?? afterParam;
  const parsed = raw === undefined ? undefined : EventId.safeParse(raw);
  if (parsed && !parsed.success) {
    throw new HttpError(
      400,
      'invalid_event_id',
      `${header === undefined ? 'after' : 'Last-Event-ID'} "${excerpt(raw ?? '', 100)}" is not an event id (a whole number below 10^15: the position of an event in the run, from 1)`,
    );
  }
  const after = parsed?.data;
  // Before any await: every request of a burst sees the slots the others took.
  const release = queries.reserveEventStream();
  const stop = new AbortController();
  const end = () => stop.abort();
  req.on('close', end);
  shutdownSignal?.addEventListener('abort', end, { once: true });
  try {
    const stream = await queries.events(requestScope(res), req.params.id, after, stop.signal);
    if (stream.kind === 'none') {
      // Nothing will ever follow: 204 tells an EventSource to stop reconnecting.
      res.status(204).end();
      return;
    }
    res.writeHead(200, SSE_HEADERS);
    if (stream.kind === 'archived') {
      // Frame by frame: the whole log may be more text than one string holds.
      for (const event of stream.events) res.write(sseFrame(event));
      res.end();
      return;
    }
    res.flushHeaders();
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    try {
      for await (const event of stream.events) res.write(sseFrame(event));
    } finally {
      clearInterval(keepAlive);
      res.end();
    }
  } finally {
    release();
    req.off('close', end);
    shutdownSignal?.removeEventListener('abort', end);
  }
}
