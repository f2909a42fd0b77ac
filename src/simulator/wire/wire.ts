/**
 * A vendor's wire format: how one API spells an answer, a streamed answer (its Server-Sent
 * Events), an error, and its rate-limit headers. One implementation a vendor (anthropic.ts,
 * openai.ts), used by the simulator and by the tests' fake server.
 */
import type { Answer, StreamErrorKind } from '../answer.js';
import type { ErrorKind } from '../config.js';
import type { LimitState } from '../limits.js';

/** One Server-Sent Event: `data` is JSON-encoded unless it is a string. */
export interface Frame {
  event?: string;
  data: unknown;
}

export interface Wire {
  /** Prefix of an answer's id, and of a tool call's. */
  idPrefix: string;
  callPrefix: string;
  /** The body of a successful answer not streamed. */
  body(a: Answer): unknown;
  /** The events before the first piece of text. */
  streamOpen(a: Answer): Frame[];
  streamText(a: Answer, piece: string): Frame[];
  /** The events of the tool calls, after the text (each call's arguments in `parts`). */
  streamTools(a: Answer, parts: (args: string) => string[]): Frame[];
  /** The events that finish the answer (stop reason, usage, end). */
  streamClose(a: Answer): Frame[];
  /** The error event a stream breaks off with. */
  streamError(kind: StreamErrorKind, message: string): Frame;
  /** The error body of `status`; `type` overrides the status's own error type (and OpenAI code). */
  errorBody(status: number, type: string | undefined, message: string): unknown;
  /** The status and error type of an injected error of `kind`. */
  fault(kind: ErrorKind): { status: number; type?: string };
  /** The rate-limit headers of an answer, from the state of the limits it was counted against. */
  rateHeaders(state: LimitState, now: number): Record<string, string>;
}
