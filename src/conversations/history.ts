/**
 * What a conversation's turn sees, and when older messages are summarised: pure functions of
 * the record. A turn's run is an agent task whose `task` is the user's message and whose
 * context carries `conversation: {summary?, messages}`: the summary of the older turns, then at
 * most `memory.maxMessages` of the messages after it (answered turns only, oldest first).
 * Once more than `memory.summarizeAfter` messages are not in the summary, the older ones are
 * folded into it before the next turn runs: all but the last quarter of `summarizeAfter`
 * (at least one turn, so the latest exchange is always sent word for word).
 */
import type { Conversation, ConversationMessage, ConversationTurn } from '../model/conversation.js';

/** The instruction of a summary run; the messages to fold (and the summary so far) go in its context. */
export const SUMMARY_TASK =
  'Summarise the conversation in the context (and the earlier summary, when there is one) in a few sentences. ' +
  'Keep the facts, names, numbers, decisions and open questions a later reply may need. Answer with the summary only.';

/** A turn's agent-task input. */
export interface TurnInput {
  task: string;
  context?: Record<string, unknown>;
}

/** The turns folded into the summary before turn `n` runs, and the summary run's input. */
export interface SummaryPlan {
  throughTurn: number;
  input: TurnInput;
}

const answered = (t: ConversationTurn): t is ConversationTurn & { answer: string } => t.answer !== undefined;

/** A turn's messages: the user's, then the agent's answer when it has one. */
function turnMessages(t: ConversationTurn): ConversationMessage[] {
  const user: ConversationMessage = { role: 'user', content: t.message, turn: t.n, at: t.sentAt };
  if (!answered(t)) return [user];
  return [user, { role: 'assistant', content: t.answer, turn: t.n, at: t.finishedAt ?? t.sentAt }];
}

/** Every message of the conversation, in order (a turn without an answer yet shows its message alone). */
export function messagesOf(conversation: Conversation): ConversationMessage[] {
  return conversation.turns.flatMap(turnMessages);
}

/** The answered turns before turn `n` that the summary does not cover. */
function unsummarised(conversation: Conversation, n: number): ConversationTurn[] {
  const through = conversation.summary?.throughTurn ?? 0;
  return conversation.turns.filter((t) => t.n > through && t.n < n && answered(t));
}

const plain = (m: ConversationMessage) => ({ role: m.role, content: m.content });

/** Whether older messages are folded into the summary before turn `n` runs, and which. */
export function summaryPlan(conversation: Conversation, n: number): SummaryPlan | undefined {
  const { summarizeAfter } = conversation.memory;
  const turns = unsummarised(conversation, n);
  if (turns.length * 2 <= summarizeAfter) return undefined;
  const keep = Math.max(1, Math.floor(summarizeAfter / 4));
  const fold = turns.slice(0, turns.length - keep);
  if (!fold.length) return undefined;
  const previous = conversation.summary?.text;
  return {
    throughTurn: fold.at(-1)!.n,
    input: {
      task: SUMMARY_TASK,
      context: { ...(previous !== undefined ? { summarySoFar: previous } : {}), messages: fold.flatMap(turnMessages).map(plain) },
    },
  };
}

/** The input of turn `n`'s run: its message, with the summary and the recent messages in its context. */
export function turnInput(conversation: Conversation, n: number): TurnInput {
  const turn = conversation.turns[n - 1];
  if (!turn) throw new Error(`conversation ${conversation.id} has no turn ${n}`);
  const recent = unsummarised(conversation, n).flatMap(turnMessages).slice(-conversation.memory.maxMessages).map(plain);
  const summary = conversation.summary?.text;
  if (!recent.length && summary === undefined) return { task: turn.message };
  return { task: turn.message, context: { conversation: { ...(summary !== undefined ? { summary } : {}), messages: recent } } };
}

/** A run's output as an answer's text. */
export function answerText(output: unknown): string {
  return typeof output === 'string' ? output : JSON.stringify(output ?? null);
}
