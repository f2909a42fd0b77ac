/**
 * OpenAI's Chat Completions API on the wire: a `chat.completion` body; a stream of
 * `chat.completion.chunk` objects (a role chunk, content deltas, tool-call deltas by index, a
 * finish reason, a usage chunk with no choices) ended by `[DONE]`; errors as
 * `{error: {message, type, code, param}}`; `x-ratelimit-*` headers with durations (`1s`, `6m0s`).
 */
import type { Answer, StreamErrorKind } from '../answer.js';
import type { ErrorKind } from '../config.js';
import type { LimitState } from '../limits.js';
import type { Frame, Wire } from './wire.js';

const FINISH: Record<Answer['stop'], string> = { end: 'stop', tool: 'tool_calls', length: 'length' };

const STREAM_ERRORS: Record<StreamErrorKind, { type: string; code: string | null }> = {
  server: { type: 'server_error', code: null },
  overloaded: { type: 'server_error', code: 'overloaded' },
  rate_limit: { type: 'requests', code: 'rate_limit_exceeded' },
  invalid: { type: 'invalid_request_error', code: null },
};

const FAULTS: Record<ErrorKind, { status: number; type?: string }> = {
  rateLimit: { status: 429 },
  server: { status: 500 },
  badRequest: { status: 400 },
  overloaded: { status: 503 },
  quota: { status: 429, type: 'insufficient_quota' },
};

/** A duration as OpenAI writes it: `20ms`, `1.5s`, `6m0s`, `1h2m3s`. */
export function openaiDuration(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const s = Math.ceil(ms / 10) / 100;
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = Math.ceil(s % 60);
  return `${h ? `${h}h` : ''}${m}m${rest}s`;
}

const chunk = (a: Answer, choice: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): Frame => ({
  data: {
    id: a.id,
    object: 'chat.completion.chunk',
    created: a.created,
    model: a.model,
    choices: choice ? [{ index: 0, logprobs: null, ...choice }] : [],
    ...extra,
  },
});

/** OpenAI's usage: the cached part of the prompt is in `prompt_tokens`, and said apart in its details. */
const usage = (a: Answer) => ({
  prompt_tokens: a.usage.input,
  completion_tokens: a.usage.output,
  total_tokens: a.usage.input + a.usage.output,
  prompt_tokens_details: { cached_tokens: a.usage.cacheRead },
});

export const openaiWire: Wire = {
  idPrefix: 'chatcmpl-',
  callPrefix: 'call_',

  body: (a) => ({
    id: a.id,
    object: 'chat.completion',
    created: a.created,
    model: a.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: a.toolCalls.length && !a.text ? null : a.text,
          refusal: null,
          ...(a.toolCalls.length
            ? { tool_calls: a.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) }
            : {}),
        },
        logprobs: null,
        finish_reason: FINISH[a.stop],
      },
    ],
    usage: usage(a),
  }),

  streamOpen: (a) => [chunk(a, { delta: { role: 'assistant', content: '' }, finish_reason: null })],

  streamText: (a, piece) => [chunk(a, { delta: { content: piece }, finish_reason: null })],

  streamTools(a, parts) {
    const frames: Frame[] = [];
    for (const [index, c] of a.toolCalls.entries()) {
      frames.push(chunk(a, { delta: { tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }, finish_reason: null }));
      for (const p of parts(c.arguments)) frames.push(chunk(a, { delta: { tool_calls: [{ index, function: { arguments: p } }] }, finish_reason: null }));
    }
    return frames;
  },

  // The usage chunk is sent whether or not `stream_options.include_usage` asked for it: the SDK reads it either way.
  streamClose: (a) => [chunk(a, { delta: {}, finish_reason: FINISH[a.stop] }), chunk(a, undefined, { usage: usage(a) }), { data: '[DONE]' }],

  streamError: (kind, message) => ({ data: { error: { message, ...STREAM_ERRORS[kind], param: null } } }),

  errorBody(status, type, message) {
    const t = type ?? (status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error');
    return { error: { message, type: t, code: type ?? (status === 429 ? 'rate_limit_exceeded' : null), param: null } };
  },

  fault: (kind) => FAULTS[kind],

  rateHeaders(state: LimitState) {
    const h: Record<string, string> = {};
    for (const [name, s] of [
      ['requests', state.requests],
      ['tokens', state.tokens],
    ] as const) {
      if (!s) continue;
      h[`x-ratelimit-limit-${name}`] = String(s.limit);
      h[`x-ratelimit-remaining-${name}`] = String(s.remaining);
      h[`x-ratelimit-reset-${name}`] = openaiDuration(s.resetMs);
    }
    return h;
  },
};
