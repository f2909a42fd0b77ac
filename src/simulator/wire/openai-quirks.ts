/**
 * OpenAI's wire format as two compatible servers bend it (`--quirks gemini|ollama`), so that a
 * client is tested against what they really send:
 *
 * - **gemini** (Gemini's endpoint, `https://generativelanguage.googleapis.com/v1beta/openai/`):
 *   an answer without a top-level `id`, its model named `models/<model>`; tool calls whose `id`
 *   is an empty string; in a stream, each tool call whole in one chunk without an `index`, the
 *   finish reason `stop` even when the answer calls tools, and no usage chunk even when
 *   `stream_options.include_usage` asks for one.
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

type Body = { id?: string; model: string; choices: { message: { tool_calls?: { id: string }[] } }[] };

const FINISH: Record<Answer['stop'], string> = { end: 'stop', tool: 'tool_calls', length: 'length' };

const chunk = (a: Answer, choice: Record<string, unknown>): Frame => ({
  data: { id: a.id, object: 'chat.completion.chunk', created: a.created, model: a.model, choices: [{ index: 0, ...choice }] },
});

/** Each tool call whole in one chunk, without the `index` OpenAI gives its pieces; `id` as the server spells it. */
const wholeCalls = (a: Answer, id: (callId: string) => string): Frame[] =>
  a.toolCalls.map((c) =>
    chunk(a, { delta: { tool_calls: [{ id: id(c.id), type: 'function', function: { name: c.name, arguments: c.arguments } }] }, finish_reason: null }),
  );

const gemini: Wire = {
  ...openaiWire,
  body(a) {
    const body = openaiWire.body(a) as Body;
    delete body.id;
    body.model = `models/${a.model}`;
    for (const call of body.choices[0]?.message.tool_calls ?? []) call.id = '';
    return body;
  },
  streamTools: (a) => wholeCalls(a, () => ''),
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
