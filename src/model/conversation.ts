/**
 * Conversations (the HTTP API's "sessions", /v1/sessions): a workspace's chat with one agent
 * that remembers earlier turns. Each message a user sends is a turn: one agent-task run whose
 * input carries the conversation so far (a summary of the older messages, then the recent ones),
 * run one at a time and in order. The record below is stored whole (src/store/conversations.ts)
 * and archived as it is. "Session" alone means an admin login session (src/auth/sessions.ts).
 */
import { z } from 'zod';
import { AgentName } from './agent.js';
import { RunStatus, Usage, WorkspaceId } from './run.js';

export const ConversationId = z.string().regex(/^ses_[a-z0-9]{8,40}$/, 'is not a session id (session ids look like ses_0mx55q17idf6fdb956c48)');

export const DEFAULT_MAX_MESSAGES = 20;
export const DEFAULT_SUMMARIZE_AFTER = 40;

/** How much of the conversation a turn sees: the summary, then at most `maxMessages` recent messages. */
export const ConversationMemory = z
  .object({
    /** At most this many recent messages (user and assistant) are sent with a turn. */
    maxMessages: z.number().int('must be a whole number').min(1, 'must be 1 to 500').max(500, 'must be 1 to 500').default(DEFAULT_MAX_MESSAGES),
    /** Once more messages than this are not yet in the summary, the older ones are summarised. */
    summarizeAfter: z.number().int('must be a whole number').min(2, 'must be 2 to 5000').max(5000, 'must be 2 to 5000').default(DEFAULT_SUMMARIZE_AFTER),
  })
  .strict();
export type ConversationMemory = z.infer<typeof ConversationMemory>;

/** Where a turn is: waiting for the turns before it, its run under way, or ended. */
export const TurnStatus = z.enum(['queued', 'running', 'succeeded', 'failed']);
export type TurnStatus = z.infer<typeof TurnStatus>;

export const ConversationTurn = z
  .object({
    /** From 1, in the order the messages were sent. */
    n: z.number().int().min(1),
    message: z.string(),
    sentAt: z.string(),
    status: TurnStatus,
    /** The turn's run (an agent task of the conversation's agent). */
    runId: z.string().optional(),
    /** The run's status once it ended. */
    runStatus: RunStatus.optional(),
    /** The agent's answer (its output; JSON text when the output is not text). */
    answer: z.string().optional(),
    error: z.string().optional(),
    /** The turn's run's usage and cost. */
    usage: Usage.optional(),
    /** The run that summarised older messages before this turn ran, and its usage once recorded (counted in the conversation's, once). */
    summaryRunId: z.string().optional(),
    summaryUsage: Usage.optional(),
    finishedAt: z.string().optional(),
  })
  .strict();
export type ConversationTurn = z.infer<typeof ConversationTurn>;

/** What the older turns came to, in the agent's (or the summarizer's) words. */
export const ConversationSummary = z
  .object({
    text: z.string(),
    /** It covers the turns up to this one (included). */
    throughTurn: z.number().int().min(1),
    runId: z.string(),
    at: z.string(),
  })
  .strict();
export type ConversationSummary = z.infer<typeof ConversationSummary>;

export const Conversation = z
  .object({
    id: ConversationId,
    workspaceId: WorkspaceId,
    agent: AgentName,
    title: z.string().optional(),
    memory: ConversationMemory,
    createdAt: z.string(),
    updatedAt: z.string(),
    /** Bumped by every change (the store writes a change only over the version it read). */
    version: z.number().int().min(1),
    turns: z.array(ConversationTurn),
    /** The turn whose run goes now (the turns after it wait); absent when none is under way. */
    activeTurn: z.number().int().min(1).optional(),
    summary: ConversationSummary.optional(),
    /** Every turn's usage and cost together, summaries included. */
    usage: Usage,
  })
  .strict();
export type Conversation = z.infer<typeof Conversation>;

/** One message of a conversation, as read back: a user's, or the agent's answer to it. */
export const ConversationMessage = z
  .object({
    role: z.enum(['user', 'assistant']),
    content: z.string(),
    turn: z.number().int().min(1),
    at: z.string(),
  })
  .strict();
export type ConversationMessage = z.infer<typeof ConversationMessage>;
