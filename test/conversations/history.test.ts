/**
 * What a session's turn is sent, and when older messages are summarised (src/conversations/
 * history.ts): pure, on records built here.
 */
import { describe, expect, it } from 'vitest';
import { answerText, messagesOf, summaryPlan, SUMMARY_TASK, turnInput } from '../../src/conversations/history.js';
import type { Conversation, ConversationTurn } from '../../src/model/conversation.js';

const answered = (n: number): ConversationTurn => ({ n, message: `m${n}`, sentAt: 't', status: 'succeeded', answer: `a${n}`, finishedAt: 'f' });
const pending = (n: number): ConversationTurn => ({ n, message: `m${n}`, sentAt: 't', status: 'queued' });

function conversation(turns: ConversationTurn[], memory = { maxMessages: 20, summarizeAfter: 40 }, summary?: Conversation['summary']): Conversation {
  return {
    id: 'ses_0000000000abcdef12',
    workspaceId: 'default',
    agent: 'a',
    memory,
    createdAt: 't',
    updatedAt: 't',
    version: 1,
    turns,
    usage: { inputTokens: 0, outputTokens: 0 },
    ...(summary ? { summary } : {}),
  };
}

describe('turnInput', () => {
  it('sends the first message alone', () => {
    expect(turnInput(conversation([pending(1)]), 1)).toEqual({ task: 'm1' });
  });

  it('sends the answered turns before it, oldest first, and skips a failed one', () => {
    const failed: ConversationTurn = { n: 2, message: 'm2', sentAt: 't', status: 'failed', error: 'boom' };
    const input = turnInput(conversation([answered(1), failed, pending(3)]), 3);
    expect(input).toEqual({
      task: 'm3',
      context: {
        conversation: {
          messages: [
            { role: 'user', content: 'm1' },
            { role: 'assistant', content: 'a1' },
          ],
        },
      },
    });
  });

  it('sends the summary, then at most maxMessages of the messages after it', () => {
    const c = conversation(
      [answered(1), answered(2), answered(3), answered(4), pending(5)],
      { maxMessages: 3, summarizeAfter: 40 },
      {
        text: 'so far',
        throughTurn: 1,
        runId: 'run_x',
        at: 't',
      },
    );
    expect(turnInput(c, 5).context).toEqual({
      conversation: {
        summary: 'so far',
        messages: [
          { role: 'assistant', content: 'a3' },
          { role: 'user', content: 'm4' },
          { role: 'assistant', content: 'a4' },
        ],
      },
    });
  });
});

describe('summaryPlan', () => {
  it('folds nothing while the messages not in the summary are at most summarizeAfter', () => {
    expect(summaryPlan(conversation([answered(1), answered(2), pending(3)], { maxMessages: 20, summarizeAfter: 4 }), 3)).toBeUndefined();
  });

  it('past it, folds all but the last quarter of summarizeAfter (at least one turn), with the summary so far', () => {
    const turns = [1, 2, 3, 4, 5, 6].map(answered);
    const plan = summaryPlan(
      conversation([...turns, pending(7)], { maxMessages: 20, summarizeAfter: 8 }, { text: 'old', throughTurn: 1, runId: 'r', at: 't' }),
      7,
    );
    // Turns 2..6 are not in the summary: 10 messages > 8; keep the last 2 turns (8 / 4), fold 2..4.
    expect(plan?.throughTurn).toBe(4);
    expect(plan?.input.task).toBe(SUMMARY_TASK);
    expect(plan?.input.context).toEqual({
      summarySoFar: 'old',
      messages: ['m2', 'a2', 'm3', 'a3', 'm4', 'a4'].map((content) => ({ role: content.startsWith('m') ? 'user' : 'assistant', content })),
    });
  });
});

describe('messagesOf and answerText', () => {
  it('lists each turn as its message and its answer, a turn under way as its message alone', () => {
    expect(messagesOf(conversation([answered(1), pending(2)])).map((m) => `${m.role}:${m.content}:${m.turn}`)).toEqual([
      'user:m1:1',
      'assistant:a1:1',
      'user:m2:2',
    ]);
  });

  it('keeps a text output as it is and writes any other as JSON', () => {
    expect(answerText('hi')).toBe('hi');
    expect(answerText({ a: 1 })).toBe('{"a":1}');
    expect(answerText(null)).toBe('null');
  });
});
