import type { Request, Response, Router } from 'express';
import type { RunQueries } from '../../query/run-queries.js';
import type { RunActions } from '../../submit/run-actions.js';
import type { Submissions, SubmitOptions } from '../../submit/submissions.js';
import type { Webhooks } from '../../webhooks/webhooks.js';
import { requestKeyId, requestScope } from '../scope.js';
import type { Scope } from '../../store/scope.js';
import { HttpError, parseOr422 } from '../errors.js';
import { apiRouter, type ApiRouter } from '../route.js';
import { sendJson } from '../json-body.js';
import { WAIT_DESCRIPTION, waitQuery } from '../wait.js';
import { answerSubmitted, submitOptionsOf } from '../submitted.js';
import { DEFAULT_BOUNDS } from '../../config/env.js';
import { NotFoundError } from '../../errors/index.js';
import { excerpt } from '../../errors/excerpt.js';
import { patternWorkflow } from '../../compile/patterns.js';
import { RUN_EVENT_TYPES } from '../../model/run.js';
import { EventId, EventsQuery, FeedbackBody, GateDecisionBody, GetRunQuery, ListRunsQuery, RerunBody, RunId, RunStepIdParam, SubmitRun } from '../schemas.js';
import {
  CancelAnswer,
  DecisionAnswer,
  ErrorBody,
  FeedbackAnswer,
  RerunAnswer,
  RunContext,
  RunEvent,
  RunList,
  RunOutputs,
  RunView,
  SubmitAnswer,
  SubmittedOrFinished,
} from '../responses.js';
import { parseSubmitRun } from '../submit-shapes.js';
import type { Auditor } from '../audit.js';

export interface RunsRouterDeps {
  submissions: Submissions;
  /** A run's `webhook`, kept before the run is written (without: a run's webhook is refused). */
  webhooks?: Pick<Webhooks, 'sealRun'> | undefined;
  queries: RunQueries;
  actions: RunActions;
  /** Records submissions, cancels, reruns and approvals. */
  audit: Auditor;
  /** Fires when the process shuts down: open event streams end so the server can close. */
  shutdownSignal?: AbortSignal | undefined;
  /** Longest `?wait` a submission may ask for, seconds (default: SWITCHYARD_MAX_WAIT_SECONDS's). */
  maxWaitSeconds?: number | undefined;
}

export function runsRouter({ submissions, webhooks, queries, actions, audit, shutdownSignal, maxWaitSeconds }: RunsRouterDeps): Router {
  const r = apiRouter();
  // An id that cannot be a run's never reaches the store (it would name other keys).
  r.router.param('id', (_req, _res, next, id: string) => {
    if (!RunId.safeParse(id).success) throw new NotFoundError(`"${excerpt(id, 100)}" is not a run id (run ids look like run_0mx55q17idf6fdb956c48)`);
    next();
  });

  submitRoute(r, { submissions, webhooks, queries, audit, shutdownSignal, maxWaitSeconds });

  // Runs (with their outputs) can hold more text than one string may: written in pieces.
  r.get('/', 'runs:read', { summary: 'List runs, newest first', query: ListRunsQuery, responses: { 200: RunList } }, async (_req, res, { query }) => {
    await sendJson(res, await queries.list(requestScope(res), query));
  });

  const run = { id: RunId };
  r.get(
    '/:id',
    'runs:read',
    { summary: 'A run: its record, its steps (with what each waits for) and its DAG', params: run, query: GetRunQuery, responses: { 200: RunView } },
    async (req, res, { query: { include } }) => {
      await sendJson(res, await queries.get(requestScope(res), req.params.id!, { definition: include.includes('definition') }));
    },
  );

  r.get(
    '/:id/context',
    'runs:read',
    { summary: "A run's shared context and which step wrote each name", params: run, responses: { 200: RunContext } },
    async (req, res) => {
      res.json(await queries.context(requestScope(res), req.params.id!));
    },
  );

  r.get(
    '/:id/outputs',
    'runs:read',
    {
      summary: "A run's work outputs: what its steps emitted with the emit_output tool, in the order emitted",
      description: 'One per step and name (a step emitting a name again replaces its own); `updatedAt` says when it was replaced.',
      params: run,
      responses: { 200: RunOutputs },
    },
    async (req, res) => {
      await sendJson(res, await queries.outputs(requestScope(res), req.params.id!));
    },
  );

  r.post(
    '/:id/cancel',
    'runs:write',
    { summary: 'Cancel a run: its unfinished steps end cancelled', params: run, responses: { 200: CancelAnswer, 409: ErrorBody } },
    async (req, res) => {
      const answer = await actions.cancel(requestScope(res), req.params.id!);
      await audit(req, res, { action: 'run.cancelled', target: req.params.id! });
      res.json(answer);
    },
  );

  r.post(
    '/:id/rerun',
    'runs:write',
    {
      summary: 'Rerun a run from a step (it and everything downstream run again) as a new run',
      params: run,
      body: RerunBody,
      responses: { 202: RerunAnswer, 409: ErrorBody },
    },
    async (req, res, { body }) => {
      const result = await submissions.rerun(requestScope(res), req.params.id!, body, { keyId: requestKeyId(res) });
      await audit(req, res, { action: 'run.rerun', target: result.id, details: { rerunOf: result.rerunOf } });
      res.status(202).location(`/v1/runs/${result.id}`).json({ id: result.id, status: result.status, rerunOf: result.rerunOf });
    },
  );

  stepRoutes(r, { actions, audit });

  r.get(
    '/:id/events',
    'runs:read',
    {
      summary: "A run's events as Server-Sent Events, replayed from the start (or after Last-Event-ID / `after`), ending after run.finished",
      description: `Each frame is \`id: <event id>\`, \`event: <type>\`, \`data: <the event as JSON>\`; comments (\`: keep-alive\`) every 15 s. Types: ${RUN_EVENT_TYPES.join(', ')}. A \`step.delta\` (a streaming step's text as it arrives) is live only: no \`id:\`, never replayed (docs/streaming.md). 204 when nothing follows \`after\` (the run finished).`,
      params: run,
      query: EventsQuery,
      responses: {
        200: { schema: RunEvent, contentType: 'text/event-stream', description: 'The events, one per frame' },
        204: null,
        400: ErrorBody,
      },
    },
    (req, res, { query: { after } }) => streamEvents(queries, req as Request<{ id: string }>, res, after, shutdownSignal),
  );

  return r.router;
}

/** `POST /v1/runs`: a run of one of the four body shapes, answered at once or, with `?wait`, when it ends. */
function submitRoute(r: ApiRouter, { submissions, webhooks, queries, audit, shutdownSignal, maxWaitSeconds }: Omit<RunsRouterDeps, 'actions'>): void {
  r.post(
    '/',
    'runs:write',
    {
      summary: 'Start a run: one agent on a task, an agent chosen by capability, a workflow (by name or inline), or a collaboration pattern',
      description: `202 with the new run; 200 with \`idempotentReplay\` when \`idempotencyKey\` names a run already made. ${WAIT_DESCRIPTION}`,
      query: waitQuery(maxWaitSeconds ?? DEFAULT_BOUNDS.maxWaitSeconds),
      body: SubmitRun,
      parseBody: parseSubmitRun,
      responses: { 202: SubmitAnswer, 200: SubmittedOrFinished, 409: ErrorBody },
    },
    async (req, res, { query, body: parsed }) => {
      const scope = requestScope(res);
      const result = await submitParsed(submissions, scope, parsed, submitOptionsOf(res, scope, parsed, webhooks));
      if (result.created) {
        const what =
          'pattern' in parsed
            ? { pattern: parsed.pattern }
            : 'agent' in parsed
              ? { agent: parsed.agent }
              : 'capability' in parsed
                ? { capability: parsed.capability }
                : { workflow: typeof parsed.workflow === 'string' ? parsed.workflow : 'inline' };
        await audit(req, res, { action: 'run.submitted', target: result.id, details: what });
      }
      await answerSubmitted(queries, res, { scope, result, seconds: query.wait, shutdownSignal });
    },
  );
}

/** A step's routes: the decision on an approval gate, feedback on a result. */
function stepRoutes(r: ApiRouter, { actions, audit }: Pick<RunsRouterDeps, 'actions' | 'audit'>): void {
  const step = { id: RunId, stepId: RunStepIdParam };
  for (const [action, approved] of [
    ['approve', true],
    ['reject', false],
  ] as const) {
    r.post(
      `/:id/steps/:stepId/${action}`,
      'runs:write',
      {
        summary: `${approved ? 'Approve' : 'Reject'} a step waiting at an approval gate, or the tool calls an agent step waits on`,
        params: step,
        body: GateDecisionBody,
        responses: { 200: DecisionAnswer, 409: ErrorBody },
      },
      async (req, res, { body }) => {
        const stepId = parseOr422(RunStepIdParam, req.params.stepId, 'stepId');
        const answer = await actions.decide(requestScope(res), req.params.id!, stepId, { approved, ...body });
        await audit(req, res, { action: approved ? 'approval.given' : 'approval.refused', target: `${req.params.id!}.${stepId}` });
        res.json(answer);
      },
    );
  }

  r.post(
    '/:id/steps/:stepId/feedback',
    'runs:write',
    { summary: "Rate a step's result", params: step, body: FeedbackBody, responses: { 200: FeedbackAnswer, 409: ErrorBody } },
    async (req, res, { body }) => {
      const stepId = parseOr422(RunStepIdParam, req.params.stepId, 'stepId');
      res.json(await actions.feedback(requestScope(res), req.params.id!, stepId, body));
    },
  );
}

const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' };
/** A frame; a live-only event (a `step.delta`, id "") has no `id:`, so Last-Event-ID stays at the last logged event. */
const sseFrame = (event: RunEvent) => `${event.id ? `id: ${event.id}\n` : ''}event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
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

/** The submission a parsed POST /v1/runs body asks for. */
function submitParsed(submissions: Submissions, scope: Scope, parsed: SubmitRun, extra: SubmitOptions) {
  if ('pattern' in parsed) return submitPattern(submissions, scope, parsed, extra);
  if ('agent' in parsed) return submissions.submitAgentTask(scope, parsed.agent, parsed.input, extra);
  if ('capability' in parsed) return submissions.submitCapability(scope, parsed.capability, parsed.input, parsed.constraints, extra);
  return submissions.submitWorkflow(scope, parsed.workflow, parsed.input, extra);
}

/** A run's own webhook, sealed and stored just before its run is. */
/** A collaboration pattern's run: the submit options go to the submission, the rest makes the workflow. */
function submitPattern(submissions: Submissions, scope: Scope, parsed: Extract<SubmitRun, { pattern: string }>, extra: SubmitOptions) {
  const { idempotencyKey: _i, priority: _p, budget: _b, webhook: _w, ...pattern } = parsed;
  return submissions.submitWorkflow(scope, patternWorkflow(pattern), {}, extra);
}
