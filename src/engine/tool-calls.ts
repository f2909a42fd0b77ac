/**
 * The record of an agent's tool calls, turn by turn (`calls` on its step, and in its
 * `step.progress` events): each call's name and arguments, and its outcome once known (the
 * result, or the error the model was given). Long parts are cut, so that a record stays small
 * whatever a model asks for.
 */
import type { ToolCall, ToolResult } from '../providers/provider.js';
import type { ToolCallRecord } from '../runs/types.js';
import { clipJson, clipText, jsonTextBytes } from './clip-json.js';

/** Most characters kept of a call's result or error, and about as many bytes of its arguments. */
export const CALL_PART_CHARS = 1000;

/** The outcome of a call as it is known when its turn is planned. */
export type CallOutcome = { result: string } | { error: string } | { step: string };

/** A call of turn `turn` with its outcome. */
export function callRecord(turn: number, call: ToolCall, outcome: CallOutcome): ToolCallRecord {
  const args = call.invalidInput !== undefined ? call.invalidInput : call.input;
  return { turn, id: call.id, name: call.name, args: clipJson(args, CALL_PART_CHARS).value, ...clipOutcome(outcome) };
}

/** A tool result as the outcome of its call. */
export const outcomeOf = (r: ToolResult): CallOutcome => (r.isError ? { error: r.content } : { result: r.content });

/**
 * `calls` with the outcomes of the calls of `turn` that became steps: `results` (by call id).
 * Returns the calls of that turn.
 */
export function settleCalls(calls: ToolCallRecord[], turn: number, results: readonly ToolResult[]): ToolCallRecord[] {
  const byId = new Map(results.map((r) => [r.toolCallId, r]));
  const ofTurn: ToolCallRecord[] = [];
  for (const [i, c] of calls.entries()) {
    if (c.turn !== turn) continue;
    const r = byId.get(c.id);
    if (c.step !== undefined && c.result === undefined && c.error === undefined && r) calls[i] = { ...c, ...clipOutcome(outcomeOf(r)) };
    ofTurn.push(calls[i]!);
  }
  return ofTurn;
}

/**
 * `calls` within `maxBytes` of JSON: their parts cut shorter and shorter, then the oldest calls
 * left out (the latest turns are what a failure is about).
 */
export function fitCalls(calls: readonly ToolCallRecord[], maxBytes: number): ToolCallRecord[] {
  if (jsonTextBytes(calls) <= maxBytes) return [...calls];
  let fitted: ToolCallRecord[] = [...calls];
  for (let chars = CALL_PART_CHARS / 2; chars >= 32; chars >>= 1) {
    fitted = calls.map((c) => ({ ...c, args: clipJson(c.args, chars).value, ...(c.result !== undefined ? { result: clipText(c.result, chars) } : {}), ...(c.error !== undefined ? { error: clipText(c.error, chars) } : {}) }));
    if (jsonTextBytes(fitted) <= maxBytes) return fitted;
  }
  while (fitted.length > 0 && jsonTextBytes(fitted) > maxBytes) fitted.shift();
  return fitted;
}

function clipOutcome(o: CallOutcome): CallOutcome {
  if ('result' in o) return { result: clipText(o.result, CALL_PART_CHARS) };
  if ('error' in o) return { error: clipText(o.error, CALL_PART_CHARS) };
  return o;
}
