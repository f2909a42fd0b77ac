/**
 * The sessions API's request and answer schemas (/v1/sessions: conversations with an agent,
 * src/conversations). The routes check with them and /openapi.json describes them.
 */
import { z } from 'zod';
import { AgentName } from '../model/agent.js';
import { ConversationId, ConversationMemory, ConversationMessage, ConversationSummary, TurnStatus } from '../model/conversation.js';
import { RunStatus, Usage } from '../model/run.js';

export const SessionIdParam = ConversationId;

export const CreateSession = z
  .object({
    agent: AgentName,
    title: z.string().min(1).max(200).optional(),
    memory: ConversationMemory.partial().strict().optional(),
  })
  .strict();
export type CreateSession = z.infer<typeof CreateSession>;

export const SessionMessageBody = z.object({ message: z.string().min(1, 'must not be empty').max(100_000) }).strict();

export const ListSessionsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(20),
    /** Where the previous page ended (its `nextCursor`). */
    cursor: z.coerce.number().int().min(0).optional(),
  })
  .strict();

/** One turn as read back: its run, what the run cost, and how it ended. */
export const SessionTurn = z
  .object({
    n: z.number().int(),
    status: TurnStatus,
    runId: z.string().nullable(),
    runStatus: RunStatus.nullable(),
    usage: Usage.nullable(),
    error: z.string().nullable(),
    summaryRunId: z.string().nullable(),
    sentAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .strict();

/** A session without its messages (listings). */
export const SessionSummary = z
  .object({
    id: ConversationId,
    agent: AgentName,
    title: z.string().nullable(),
    memory: ConversationMemory,
    /** `busy` while a turn runs or waits. */
    status: z.enum(['idle', 'busy']),
    turnCount: z.number().int(),
    usage: Usage,
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .strict();

export const SessionView = SessionSummary.extend({
  messages: z.array(ConversationMessage),
  turns: z.array(SessionTurn),
  summary: ConversationSummary.nullable(),
}).strict();
export type SessionView = z.infer<typeof SessionView>;

export const SessionList = z.object({ sessions: z.array(SessionSummary), nextCursor: z.string().nullable() }).strict();

/**
 * A message accepted: its turn, queued behind the turn under way or started (202); with
 * `?wait`, the turn once it has ended (200): its answer or error, its run and usage.
 */
export const SessionMessageAnswer = z
  .object({
    session: ConversationId,
    turn: z.number().int(),
    status: TurnStatus,
    /** How many turns go before it (0: it is the one under way). */
    ahead: z.number().int(),
    answer: z.string().optional(),
    error: z.string().optional(),
    runId: z.string().optional(),
    usage: Usage.optional(),
  })
  .strict();
