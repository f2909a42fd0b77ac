/**
 * What an http step's answer comes to: a 2xx is its output (the body when it is JSON, else
 * `{status, body}`); a 5xx, a 408 or a 429 may succeed later (retryable, with the step's
 * attempts and backoff); any other status fails the step, naming the status and the start of
 * the body. Pure: the request is made by the outbound client.
 */
import { NonRetryableError, RetryableError } from '../../errors/index.js';
import { excerpt } from '../../errors/excerpt.js';

/** An answer as the step reads it: its body parsed when it is JSON (the outbound client's), else its text. */
export interface HttpReply {
  status: number;
  body: unknown;
}

/** Statuses below 500 that a later attempt may get past: a timeout and a "slow down". */
const RETRYABLE_4XX: ReadonlySet<number> = new Set([408, 429]);

/** How much of a body an error message shows. */
const BODY_EXCERPT_CHARS = 300;

/** The step's output for `reply`, or the error it fails (or is retried) with; `what` names the request (`POST https://host/path`). */
export function outputOf(reply: HttpReply, what: string): unknown {
  const { status, body } = reply;
  if (status >= 200 && status < 300) return typeof body === 'string' ? { status, body } : body;
  const text = (typeof body === 'string' ? body : JSON.stringify(body)).replace(/\s+/g, ' ').trim();
  const message = `${what} answered ${status}: ${text === '' ? '(empty body)' : excerpt(text, BODY_EXCERPT_CHARS)}`;
  if (status >= 500 || RETRYABLE_4XX.has(status)) throw new RetryableError(message, status);
  throw new NonRetryableError(status >= 300 && status < 400 ? `${message} (not followed: no usable Location, or more than 5 redirects)` : message, status);
}
