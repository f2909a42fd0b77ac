/**
 * OpenAI's wire format as two compatible servers bend it (`--quirks gemini|ollama`), so that a
 * client is tested against what they really send:
 *
 * - **gemini** (Gemini's endpoint, `https://generativelanguage.googleapis.com/v1beta/openai/`):
 *   an answer without a top-level `id`, its model named `models/<model>`; tool calls whose `id`
 *   is an empty string; in a stream, each tool call whole in one chunk without an `index`, the
 *   finish reason `stop` even when the answer calls tools, and no usage chunk even when
 *   `stream_options.include_usage` asks for one. Each tool call carries a thought signature
 *   (`extra_content.google.thought_signature`); a Gemini 3 model (`gemini-3...`) refuses, 400, a
 *   conversation whose earlier tool calls come back without theirs.
 * - **ollama** (Ollama's `http://localhost:11434/v1`, versions before stream usage and tool-call
 *   indexes): in a stream, each tool call whole in one chunk without an `index`, and no usage
 *   chunk; `response_format: json_schema` ignored (the answer is free text).
 *
 * Answers not streamed keep their usage in both (both servers send it there).
 */
import type { Answer } from '../answer.js';
import type { Quirks } from '../config.js';
import type { Wants } from '../request.js';
import { openaiWire } from './openai.js';
import type { Frame, Wire } from './wire.js';

type Body = { id?: string; model: string; choices: { message: { tool_calls?: { id: string; extra_content?: unknown }[] } }[] };

/** The thought signature Gemini gives a call (opaque to a client; made from the answer and the call's place). */
const signed = (a: Answer, i: number) => ({ google: { thought_signature: Buffer.from(`${a.id}/${i}`).toString('base64') } });

const FINISH: Record<Answer['stop'], string> = { end: 'stop', tool: 'tool_calls', length: 'length' };

const chunk = (a: Answer, choice: Record<string, unknown>): Frame => ({
  data: { id: a.id, object: 'chat.completion.chunk', created: a.created, model: a.model, choices: [{ index: 0, ...choice }] },
});

/** Each tool call whole in one chunk, without the `index` OpenAI gives its pieces; `id` as the server spells it. */
const wholeCalls = (a: Answer, id: (callId: string) => string, extra?: (i: number) => unknown): Frame[] =>
  a.toolCalls.map((c, i) =>
    chunk(a, {
      delta: {
        tool_calls: [{ id: id(c.id), type: 'function', function: { name: c.name, arguments: c.arguments }, ...(extra ? { extra_content: extra(i) } : {}) }],
      },
      finish_reason: null,
    }),
  );

const gemini: Wire = {
  ...openaiWire,
  body(a) {
    const body = openaiWire.body(a) as Body;
    delete body.id;
    body.model = `models/${a.model}`;
    for (const [i, call] of (body.choices[0]?.message.tool_calls ?? []).entries()) {
      call.id = '';
      call.extra_content = signed(a, i);
    }
    return body;
  },
  streamTools: (a) =>
    wholeCalls(
      a,
      () => '',
      (i) => signed(a, i),
    ),
  streamClose: (a) => [chunk(a, { delta: {}, finish_reason: a.stop === 'tool' ? 'stop' : FINISH[a.stop] }), { data: '[DONE]' }],
};

const ollama: Wire = {
  ...openaiWire,
  streamTools: (a) => wholeCalls(a, (id) => id),
  streamClose: (a) => [chunk(a, { delta: {}, finish_reason: FINISH[a.stop] }), { data: '[DONE]' }],
};

/** The OpenAI wire format of a server with `quirks`. */
export function openaiWireOf(quirks: Quirks): Wire {
  return quirks === 'gemini' ? gemini : quirks === 'ollama' ? ollama : openaiWire;
}

/** What a request gets of what it asks, on a server with `quirks` (Ollama ignores a JSON Schema `response_format`). */
export function wantsUnder(quirks: Quirks, wants: Wants): Wants {
  if (quirks !== 'ollama' || wants.json === undefined || wants.json === 'object') return wants;
  const { json: _ignored, ...rest } = wants;
  return rest;
}

/**
 * What a server with `quirks` refuses in a request the real API would take (one line), if
 * anything: Gemini 3 wants each earlier tool call back with its thought signature.
 */
export function quirkProblem(quirks: Quirks, body: unknown): string | undefined {
  if (quirks !== 'gemini') return undefined;
  const b = (body ?? {}) as { model?: unknown; messages?: { role?: unknown; tool_calls?: { function?: { name?: string }; extra_content?: unknown }[] }[] };
  if (typeof b.model !== 'string' || !/^gemini-3/.test(b.model)) return undefined;
  for (const [i, m] of (Array.isArray(b.messages) ? b.messages : []).entries()) {
    if (m?.role !== 'assistant' || !Array.isArray(m.tool_calls)) continue;
    const unsigned = m.tool_calls.find(
      (c) => typeof (c?.extra_content as { google?: { thought_signature?: unknown } } | undefined)?.google?.thought_signature !== 'string',
    );
    if (unsigned)
      return `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly. Additional data, function call \`default_api:${unsigned?.function?.name ?? ''}\`, position ${i + 1}.`;
  }
  return undefined;
}
