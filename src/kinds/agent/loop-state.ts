/**
 * The tool loop's state between turns (the step's checkpoint), and what a person's decision on
 * the calls it waits on does to it. The calls themselves and their results are in `messages`
 * (see callsOf): not kept twice.
 */
import type { ChatMessage, ToolResult } from '../../calls/provider.js';
import type { GateDecision } from '../../store/scripts/index.js';
import type { ToolCallRecord } from '../../model/run.js';
import type { PlannedDelegation } from './delegation.js';
import { callsOf, type CallApproval, type CallOutcome, outcomeOf } from '../shared/tool-calls.js';

/** A call of a tool that acts outside (or waits for approval): made after the answer is saved, its result saved before the next. */
export interface ToolToCall {
  callId: string;
  /** The tool's name as offered. */
  tool: string;
  args: unknown;
  /** Its place in the answer (from 1): with the turn, its Idempotency-Key. */
  index: number;
  /** `waiting`: for a person's decision; `approved`: decided, to be made. */
  approval?: 'waiting' | 'approved';
}

/** A call of the last answer: a child step (delegation), its result (once known), or a tool call to make. */
export type PendingCall = PlannedDelegation | { callId: string; result: ToolResult } | ToolToCall;

export interface LoopCheckpoint {
  /** The mark of this checkpoint (named when only orchestrators had it: saved checkpoints resume). */
  orchestrator: 1;
  messages: ChatMessage[];
  /** Model calls answered. */
  turns: number;
  delegations: number;
  model: string | null;
  /** The calls of the last answer, until their results are in `messages`. */
  pending: PendingCall[] | null;
  /** The step each delegation became, by call id. */
  steps?: Record<string, string>;
  /** Decisions on calls that waited for approval, by call id. */
  approvals?: Record<string, GateDecision>;
  /** It waits for a decision on the calls of its last answer (the API may decide then). */
  awaiting?: true;
  /** The decision, written by the API (gate-decide.lua) while it waits. */
  decision?: GateDecision;
}

export function isLoopCheckpoint(v: unknown): v is LoopCheckpoint {
  return v !== null && typeof v === 'object' && (v as LoopCheckpoint).orchestrator === 1;
}

export const isChild = (p: PendingCall): p is PlannedDelegation => 'child' in p;
export const isToCall = (p: PendingCall): p is ToolToCall => 'tool' in p;

/** The calls of the last answer that wait for a decision. */
export const waitingCalls = (cp: LoopCheckpoint): ToolToCall[] => (cp.pending ?? []).filter((p): p is ToolToCall => isToCall(p) && p.approval === 'waiting');

/**
 * Apply the decision the API wrote: approved, the waiting calls are made next; rejected, each
 * gets a tool error for the model ("rejected by <who>: <comment>"). Kept by call id for the transcript.
 */
export function applyDecision(cp: LoopCheckpoint, decision: GateDecision): void {
  const approvals = (cp.approvals ??= {});
  cp.pending = (cp.pending ?? []).map((p): PendingCall => {
    if (!isToCall(p) || p.approval !== 'waiting') return p;
    approvals[p.callId] = decision;
    if (decision.approved) return { ...p, approval: 'approved' };
    const content = `rejected by ${decision.by}${decision.comment ? `: ${decision.comment}` : ''}`;
    return { callId: p.callId, result: { toolCallId: p.callId, content, isError: true } };
  });
  delete cp.decision;
  delete cp.awaiting;
}

/** What became of a call so far: its result or error, the step it became, or nothing yet. */
function plannedOutcome(p: PendingCall): CallOutcome | undefined {
  if (isChild(p)) return { step: p.child.id };
  if ('result' in p) return outcomeOf(p.result);
  return undefined;
}

/** The step's transcript: every call of its turns, with outcomes so far and approval decisions. */
export function transcriptOf(cp: LoopCheckpoint, partChars: number): ToolCallRecord[] {
  const planned = new Map<string, CallOutcome>();
  const approvals: Record<string, CallApproval> = { ...cp.approvals };
  for (const p of cp.pending ?? []) {
    const o = plannedOutcome(p);
    if (o) planned.set(p.callId, o);
    if (isToCall(p) && p.approval === 'waiting') approvals[p.callId] = { waiting: true };
  }
  return callsOf(cp.messages, { steps: cp.steps ?? {}, planned, approvals, partChars });
}
