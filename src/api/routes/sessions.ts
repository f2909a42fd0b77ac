/**
 * /v1/sessions: conversations with an agent that remember earlier turns (src/conversations).
 * A message is a turn: one run of the agent on the conversation so far, one turn at a time, in
 * order; its answer is appended when the run ends. A workspace's sessions only: another's are
 * neither listed nor found (404).
 */
import type { Router } from 'express';
import type { Conversations } from '../../conversations/conversations.js';
import { messagesOf } from '../../conversations/history.js';
import type { Conversation } from '../../model/conversation.js';
import type { Auditor } from '../audit.js';
import { ErrorBody } from '../responses.js';
import { apiRouter } from '../route.js';
import { requestScope } from '../scope.js';
import { sendJson } from '../json-body.js';
import { waitQuery, waitWhileConnected } from '../wait.js';
import {
  CreateSession,
  ListSessionsQuery,
  SessionIdParam,
  SessionList,
  SessionMessageAnswer,
  SessionMessageBody,
  SessionView,
  type SessionView as View,
} from '../session-schemas.js';

export interface SessionsRouterDeps {
  conversations: Conversations;
  audit: Auditor;
  /** Longest `?wait` on a message, seconds (SWITCHYARD_MAX_WAIT_SECONDS). */
  maxWaitSeconds: number;
  /** Fires when the process shuts down: waits end. */
  shutdownSignal?: AbortSignal | undefined;
}

export function sessionsRouter({ conversations, audit, maxWaitSeconds, shutdownSignal }: SessionsRouterDeps): Router {
  const r = apiRouter();
  // An id that cannot be a session's is a 404 from the service (after the query is checked): it never reaches the store.
  const session = { id: SessionIdParam };

  r.post(
    '/',
    'runs:write',
    { summary: 'Start a session: a conversation with an agent that remembers earlier turns', body: CreateSession, responses: { 201: SessionView } },
    async (req, res, { body }) => {
      const created = await conversations.create(requestScope(res), body);
      await audit(req, res, { action: 'session.created', target: created.id, details: { agent: created.agent } });
      res.status(201).location(`/v1/sessions/${created.id}`).json(view(created));
    },
  );

  r.get(
    '/',
    'runs:read',
    { summary: "The workspace's sessions, newest first", query: ListSessionsQuery, responses: { 200: SessionList } },
    async (_req, res, { query }) => {
      const offset = query.cursor ?? 0;
      const page = await conversations.list(requestScope(res), { offset, limit: query.limit });
      const next = offset + query.limit;
      res.json({ sessions: page.conversations.map(summaryOf), nextCursor: next < page.total ? String(next) : null });
    },
  );

  r.get(
    '/:id',
    'runs:read',
    { summary: "One session: its messages, each turn's run, usage and cost", params: session, responses: { 200: SessionView } },
    async (req, res) => {
      // A long session's messages can hold more text than one string may: written in pieces.
      await sendJson(res, view(await conversations.get(requestScope(res), req.params.id!)));
    },
  );

  r.post(
    '/:id/messages',
    'runs:write',
    {
      summary: "Send a message: a turn, run once the session's turns before it have ended",
      description:
        '202: the turn is queued or started; read the answer with GET /v1/sessions/:id once the turn has ended. ' +
        'With `?wait=<seconds>`: 200 with the turn (its answer or error, run and usage) once it has ended, if it does within that time ' +
        '(the turns before it included); otherwise the 202, when the time is up or the client goes away (the turn goes on).',
      params: session,
      query: waitQuery(maxWaitSeconds),
      body: SessionMessageBody,
      responses: { 202: SessionMessageAnswer, 200: SessionMessageAnswer, 409: ErrorBody },
    },
    async (req, res, { query, body }) => {
      const scope = requestScope(res);
      const { turn, conversation } = await conversations.say(scope, req.params.id!, body.message);
      const ahead = turn.n - (conversation.activeTurn ?? turn.n);
      res.location(`/v1/sessions/${conversation.id}`);
      const ended = await waitWhileConnected(res, { seconds: query.wait, shutdownSignal }, (waitMs, signal) =>
        conversations.awaitTurn(scope, conversation.id, turn.n, waitMs, signal),
      );
      const t = ended?.turns[turn.n - 1];
      if (!t) return void res.status(202).json({ session: conversation.id, turn: turn.n, status: turn.status, ahead });
      res.status(200).json({
        session: conversation.id,
        turn: t.n,
        status: t.status,
        ahead: 0,
        ...(t.answer !== undefined ? { answer: t.answer } : {}),
        ...(t.error !== undefined ? { error: t.error } : {}),
        ...(t.runId !== undefined ? { runId: t.runId } : {}),
        ...(t.usage ? { usage: t.usage } : {}),
      });
    },
  );

  r.delete('/:id', 'runs:write', { summary: 'Delete a session', params: session, responses: { 204: null, 404: ErrorBody } }, async (req, res) => {
    await conversations.remove(requestScope(res), req.params.id!);
    await audit(req, res, { action: 'session.deleted', target: req.params.id! });
    res.status(204).end();
  });
  return r.router;
}

function summaryOf(c: Conversation) {
  return {
    id: c.id,
    agent: c.agent,
    title: c.title ?? null,
    memory: c.memory,
    status: c.activeTurn === undefined ? ('idle' as const) : ('busy' as const),
    turnCount: c.turns.length,
    usage: c.usage,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  };
}

function view(c: Conversation): View {
  return {
    ...summaryOf(c),
    messages: messagesOf(c),
    turns: c.turns.map((t) => ({
      n: t.n,
      status: t.status,
      runId: t.runId ?? null,
      runStatus: t.runStatus ?? null,
      usage: t.usage ?? null,
      error: t.error ?? null,
      summaryRunId: t.summaryRunId ?? null,
      sentAt: t.sentAt,
      finishedAt: t.finishedAt ?? null,
    })),
    summary: c.summary ?? null,
  };
}
