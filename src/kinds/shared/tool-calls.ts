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

/** Most characters kept of a call's result or error, and about as many bytes of its arguments, unless configured (SWITCHYARD_TRANSCRIPT_PART_CHARS). */
export const CALL_PART_CHARS = 1000;

/** The outcome of a call as it is known when its turn is planned. */
export type CallOutcome = { result: string } | { error: string } | { step: string };

/** A decision on a call that waited for approval, or that it still waits. */
export type CallApproval = NonNullable<ToolCallRecord['approval']>;

/** A call of turn `turn` with its outcome (none yet: `{}`), each part cut to `partChars`. */
export function callRecord(turn: number, call: ToolCall, outcome: CallOutcome | Record<string, never>, partChars = CALL_PART_CHARS): ToolCallRecord {
  const args = call.invalidInput !== undefined ? call.invalidInput : call.input;
  return { turn, id: call.id, name: call.name, args: clipJson(args, partChars).value, ...clipOutcome(outcome, partChars) };
}

/** A tool result as the outcome of its call. */
export const outcomeOf = (r: ToolResult): CallOutcome => (r.isError ? { error: r.content } : { result: r.content });

export interface CallsOfOptions {
  /** The step each delegation became, by call id. */
  steps?: Readonly<Record<string, string>>;
  /** For the calls of a last turn not yet answered: their outcome so far, by call id. */
  planned?: ReadonlyMap<string, CallOutcome>;
  /** Decisions on calls that waited for approval, by call id. */
  approvals?: Readonly<Record<string, CallApproval>>;
  /** Most characters of each part (SWITCHYARD_TRANSCRIPT_PART_CHARS). */
  partChars?: number;
}

/**
 * The calls of a conversation, turn by turn (each assistant message is a turn, from 1), read
 * from it rather than kept beside it: each with the tool result it was answered with, or its
 * outcome so far (`planned`); with the step it became for a delegation, and the decision on it
 * for a call that waited for approval.
 */
export function callsOf(messages: readonly ChatMessage[], opts: CallsOfOptions = {}): ToolCallRecord[] {
  const { steps = {}, planned, approvals = {}, partChars = CALL_PART_CHARS } = opts;
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
      const approval = approvals[call.id];
      const outcome = result ? outcomeOf(result) : planned?.get(call.id);
      records.push({
        ...callRecord(turn, call, outcome ?? {}, partChars),
        ...(step !== undefined ? { step } : {}),
        ...(approval !== undefined ? { approval: clipApproval(approval, partChars) } : {}),
      });
    }
  });
  return records;
}

const clipApproval = (a: CallApproval, chars: number): CallApproval =>
  'waiting' in a || a.comment === null ? a : { ...a, comment: clipText(a.comment, chars) };

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

function clipOutcome(o: CallOutcome | Record<string, never>, chars: number): Partial<ToolCallRecord> {
  if ('result' in o) return { result: clipText(o.result, chars) };
  if ('error' in o) return { error: clipText(o.error, chars) };
  return o;
}

/** A tool's argument problems in one line, for the model: `path message; ...` (`emptyPath` for the arguments as a whole). */
export function describeArgsIssues(issues: readonly ZodLikeIssue[], emptyPath: string): string {
  return issuesFromZod(issues, { emptyPath })
    .map((i) => `${i.path} ${i.message}`)
    .join('; ');
}
