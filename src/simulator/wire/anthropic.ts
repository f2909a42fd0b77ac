/**
 * Anthropic's Messages API on the wire: a `message` body; a stream of `message_start`,
 * `content_block_start` / `_delta` / `_stop` (text deltas, tool input as `input_json_delta`),
 * `message_delta` (stop reason, output tokens) and `message_stop`; errors as
 * `{type: 'error', error: {type, message}}`; `anthropic-ratelimit-*` headers with RFC 3339 resets.
 */
import type { Answer, StreamErrorKind } from '../answer.js';
import type { ErrorKind } from '../config.js';
import type { Frame, Wire } from './wire.js';

const STOP: Record<Answer['stop'], string> = { end: 'end_turn', tool: 'tool_use', length: 'max_tokens' };

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

const STREAM_ERRORS: Record<StreamErrorKind, string> = {
  server: 'api_error',
  overloaded: 'overloaded_error',
  rate_limit: 'rate_limit_error',
  invalid: 'invalid_request_error',
};

const FAULTS: Record<ErrorKind, { status: number; type?: string }> = {
  rateLimit: { status: 429 },
  server: { status: 500 },
  badRequest: { status: 400 },
  overloaded: { status: 529 },
  quota: { status: 402 },
};

/** The time in whole seconds, rounded up (the window is not open before it), as Anthropic writes it. */
const rfc3339 = (ms: number) => new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** Anthropic's usage: `input_tokens` leaves out the prompt's cached tokens, which it says apart (null when none). */
const usageOf = (a: Answer) => ({
  input_tokens: Math.max(0, a.usage.input - a.usage.cacheRead - a.usage.cacheWrite),
  output_tokens: a.usage.output,
  cache_creation_input_tokens: a.usage.cacheWrite || null,
  cache_read_input_tokens: a.usage.cacheRead || null,
});

const withText = (a: Answer) => a.text.length > 0 || a.toolCalls.length === 0;

export const anthropicWire: Wire = {
  idPrefix: 'msg_',
  callPrefix: 'toolu_',

  body: (a) => ({
    id: a.id,
    type: 'message',
    role: 'assistant',
    model: a.model,
    content: [
      ...(withText(a) ? [{ type: 'text', text: a.text, citations: null }] : []),
      ...a.toolCalls.map((c) => ({ type: 'tool_use', id: c.id, name: c.name, input: JSON.parse(c.arguments) as unknown })),
    ],
    stop_reason: STOP[a.stop],
    stop_sequence: null,
    usage: usageOf(a),
  }),

  streamOpen: (a) => [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: {
          id: a.id,
          type: 'message',
          role: 'assistant',
          model: a.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...usageOf(a), output_tokens: 1 },
        },
      },
    },
    ...(withText(a) ? [{ event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } }] : []),
  ],

  streamText: (_a, piece) => [{ event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } } }],

  streamTools(a, parts) {
    const base = withText(a) ? 1 : 0;
    const frames: Frame[] = withText(a) ? [{ event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } }] : [];
    for (const [i, c] of a.toolCalls.entries()) {
      const index = base + i;
      frames.push({
        event: 'content_block_start',
        data: { type: 'content_block_start', index, content_block: { type: 'tool_use', id: c.id, name: c.name, input: {} } },
      });
      for (const p of parts(c.arguments)) {
        frames.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: p } } });
      }
      frames.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
    }
    return frames;
  },

  streamClose: (a) => [
    {
      event: 'message_delta',
      data: { type: 'message_delta', delta: { stop_reason: STOP[a.stop], stop_sequence: null }, usage: { output_tokens: a.usage.output } },
    },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ],

  streamError: (kind, message) => ({ event: 'error', data: { type: 'error', error: { type: STREAM_ERRORS[kind], message } } }),

  errorBody: (status, type, message) => ({ type: 'error', error: { type: type ?? ERROR_TYPES[status] ?? 'api_error', message } }),

  fault: (kind) => FAULTS[kind],

  rateHeaders(state, now) {
    const h: Record<string, string> = {};
    for (const [name, s] of [
      ['requests', state.requests],
      ['tokens', state.tokens],
    ] as const) {
      if (!s) continue;
      h[`anthropic-ratelimit-${name}-limit`] = String(s.limit);
      h[`anthropic-ratelimit-${name}-remaining`] = String(s.remaining);
      h[`anthropic-ratelimit-${name}-reset`] = rfc3339(now + s.resetMs);
    }
    return h;
  },
};
