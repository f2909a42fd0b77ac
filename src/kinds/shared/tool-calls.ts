/**
 * The record of an agent's tool calls, turn by turn (`calls` on its step, and in its
 * `step.progress` events): each call's name and arguments, and its outcome once known (the
 * result, or the error the model was given). Long parts are cut, so that a record stays small
 * whatever a model asks for.
 */
import type { ChatMessage, ToolCall, ToolResult } from '../../calls/provider.js';
import type { ToolCallRecord } from '../../model/run.js';
import { clipJson, clipText, jsonTextBytes } from '../../lang/clip-json.js';
import { issuesFromZod, type ZodLikeIssue } from '../../errors/index.js';

/** Most characters kept of a call's result or error, and about as many bytes of its arguments. */
export const CALL_PART_CHARS = 1000;

/** The outcome of a call as it is known when its turn is planned. */
export type CallOutcome = { result: string } | { error: string } | { step: string };

/** A call of turn `turn` with its outcome (none yet: `{}`). */
export function callRecord(turn: number, call: ToolCall, outcome: CallOutcome | Record<string, never>): ToolCallRecord {
  const args = call.invalidInput !== undefined ? call.invalidInput : call.input;
  return { turn, id: call.id, name: call.name, args: clipJson(args, CALL_PART_CHARS).value, ...clipOutcome(outcome) };
}

/** A tool result as the outcome of its call. */
export const outcomeOf = (r: ToolResult): CallOutcome => (r.isError ? { error: r.content } : { result: r.content });

/**
 * The calls of a conversation, turn by turn (each assistant message is a turn, from 1), read
 * from it rather than kept beside it: each with the tool result it was answered with, or, for
 * the calls of a last turn not yet answered, its outcome in `planned` (by call id); with the
 * step it became (`steps`, by call id) for a delegation.
 */
export function callsOf(
  messages: readonly ChatMessage[],
  steps: Readonly<Record<string, string>>,
  planned?: ReadonlyMap<string, CallOutcome>,
): ToolCallRecord[] {
  const records: ToolCallRecord[] = [];
  let turn = 0;
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    turn++;
    const next = messages[i + 1];
    const results = new Map(next?.role === 'tool' ? next.results.map((r) => [r.toolCallId, r]) : []);
    for (const call of m.toolCalls ?? []) {
      const result = results.get(call.id);
      const step = steps[call.id];
      const outcome = result ? outcomeOf(result) : planned?.get(call.id);
      records.push({ ...callRecord(turn, call, outcome ?? {}), ...(step !== undefined ? { step } : {}) });
    }
  });
  return records;
}

/**
 * `calls` within `maxBytes` of JSON: their parts cut shorter and shorter, then the oldest calls
 * left out (the latest turns are what a failure is about).
 */
export function fitCalls(calls: readonly ToolCallRecord[], maxBytes: number): ToolCallRecord[] {
  if (jsonTextBytes(calls) <= maxBytes) return [...calls];
  let fitted: ToolCallRecord[] = [...calls];
  for (let chars = CALL_PART_CHARS / 2; chars >= 32; chars >>= 1) {
    fitted = calls.map((c) => ({
      ...c,
      args: clipJson(c.args, chars).value,
      ...(c.result !== undefined ? { result: clipText(c.result, chars) } : {}),
      ...(c.error !== undefined ? { error: clipText(c.error, chars) } : {}),
    }));
    if (jsonTextBytes(fitted) <= maxBytes) return fitted;
  }
  while (fitted.length > 0 && jsonTextBytes(fitted) > maxBytes) fitted.shift();
  return fitted;
}

function clipOutcome(o: CallOutcome | Record<string, never>): Partial<ToolCallRecord> {
  if ('result' in o) return { result: clipText(o.result, CALL_PART_CHARS) };
  if ('error' in o) return { error: clipText(o.error, CALL_PART_CHARS) };
  return o;
}

/** A tool's argument problems in one line, for the model: `path message; ...` (`emptyPath` for the arguments as a whole). */
export function describeArgsIssues(issues: readonly ZodLikeIssue[], emptyPath: string): string {
  return issuesFromZod(issues, { emptyPath })
    .map((i) => `${i.path} ${i.message}`)
    .join('; ');
}
