/**
 * A request as the simulator reads it, whichever API it came in: the exchange it keeps while
 * answering (what a test records), the body schemas of the two APIs (only what the simulator
 * reads; a body that fails them gets the 400 the real API would give, naming the field), and
 * what the request asks for (a stream, a forced tool, JSON, a size).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';

export type Api = 'anthropic' | 'openai';

/** One request and what became of it. */
export interface SimExchange {
  api: Api | 'unknown';
  path: string;
  headers: IncomingHttpHeaders;
  /** The JSON body (undefined when empty or not JSON). */
  body: unknown;
  /** Text of the last user message that has text. */
  prompt: string;
  /** When the request arrived (ms since the epoch), before its body was read. */
  time: number;
  /** The client went away before the answer was sent. */
  aborted: boolean;
  /** The usage of the answer sent, when it was a success not streamed: what a provider bills. */
  answered?: { inputTokens: number; outputTokens: number; cacheReadTokens: number; cacheWriteTokens: number };
}

const Message = z.looseObject({ role: z.string(), content: z.unknown().optional() });
const positive = z.number().int().positive();

export const AnthropicBody = z.looseObject({
  model: z.string().min(1),
  messages: z.array(Message).min(1),
  max_tokens: positive,
  system: z.unknown().optional(),
  stream: z.boolean().optional(),
  tools: z.array(z.looseObject({ name: z.string(), input_schema: z.unknown().optional() })).optional(),
  tool_choice: z.looseObject({ type: z.string(), name: z.string().optional() }).optional(),
});

export const OpenAIBody = z.looseObject({
  model: z.string().min(1),
  messages: z.array(Message).min(1),
  max_tokens: positive.nullish(),
  max_completion_tokens: positive.nullish(),
  stream: z.boolean().nullish(),
  tools: z.array(z.looseObject({ function: z.looseObject({ name: z.string(), parameters: z.unknown().optional() }) })).optional(),
  tool_choice: z.union([z.string(), z.looseObject({ type: z.string(), function: z.looseObject({ name: z.string() }).optional() })]).optional(),
  response_format: z.looseObject({ type: z.string(), json_schema: z.looseObject({ schema: z.unknown().optional() }).optional() }).optional(),
});

/** What the request asks of its answer. */
export interface Wants {
  model: string;
  stream: boolean;
  /** The most output tokens it allows. */
  maxTokens: number | undefined;
  /** A tool it forces (by name, or any of them), with its input schema. */
  forcedTool?: { name: string; schema: unknown };
  /** `response_format` (OpenAI): a JSON Schema, or any JSON object. */
  json?: { schema: unknown } | 'object';
  /** The conversation ends with tool results (the next answer is text). */
  afterToolResults: boolean;
}

export const apiOf = (path: string): Api | 'unknown' => (path === '/v1/messages' ? 'anthropic' : path === '/v1/chat/completions' ? 'openai' : 'unknown');

/** What the request asks for, or what is wrong with it (one line, as the API would say). */
export function read(api: Api, body: unknown): { wants: Wants } | { problem: string } {
  if (api === 'anthropic') {
    const p = AnthropicBody.safeParse(body);
    if (!p.success) return { problem: problemLine(p.error) };
    const b = p.data;
    const named = (name?: string) => (name === undefined ? b.tools?.[0] : b.tools?.find((t) => t.name === name));
    const c = b.tool_choice;
    const forced = c?.type === 'tool' ? named(c.name) : c?.type === 'any' ? named() : undefined;
    return { wants: { ...base(b), maxTokens: b.max_tokens, ...(forced ? { forcedTool: { name: forced.name, schema: forced.input_schema } } : {}) } };
  }
  const p = OpenAIBody.safeParse(body);
  if (!p.success) return { problem: problemLine(p.error) };
  const b = p.data;
  const named = (name?: string) => (name === undefined ? b.tools?.[0] : b.tools?.find((t) => t.function.name === name));
  const c = b.tool_choice;
  const forced = typeof c === 'object' && c.type === 'function' ? named(c.function?.name) : c === 'required' ? named() : undefined;
  const f = b.response_format;
  const json = f?.type === 'json_schema' ? { schema: f.json_schema?.schema } : f?.type === 'json_object' ? ('object' as const) : undefined;
  return {
    wants: {
      ...base(b),
      maxTokens: b.max_completion_tokens ?? b.max_tokens ?? undefined,
      ...(forced ? { forcedTool: { name: forced.function.name, schema: forced.function.parameters } } : {}),
      ...(json ? { json } : {}),
    },
  };
}

const base = (b: { model: string; stream?: boolean | null | undefined; messages: unknown[] }) => ({
  model: b.model,
  stream: b.stream === true,
  afterToolResults: endsWithToolResults(b),
});

function problemLine(err: z.ZodError): string {
  const i = err.issues[0];
  return i ? `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}` : 'invalid request';
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const messagesOf = (body: unknown): Record<string, unknown>[] => (isRecord(body) && Array.isArray(body.messages) ? body.messages.filter(isRecord) : []);
const textOfPart = (p: unknown): string | undefined => (isRecord(p) && typeof p.text === 'string' ? p.text : undefined);

/** Text of the last user message with text, for either API's message shape (string or content parts). */
export function lastUserText(body: unknown): string {
  // A user turn holding only tool results (Anthropic) is not a prompt: the task came before it.
  const hasText = (m: Record<string, unknown>) =>
    typeof m.content === 'string' || (Array.isArray(m.content) && m.content.some((p) => textOfPart(p) !== undefined));
  const last = messagesOf(body)
    .filter((m) => m.role === 'user' && hasText(m))
    .at(-1);
  if (!last) return '';
  if (typeof last.content === 'string') return last.content;
  return (last.content as unknown[]).map((p) => textOfPart(p) ?? '').join('');
}

/** Every text the model would read: system, messages (text, tool calls and results), tool definitions. */
export function allText(body: unknown): string {
  const parts: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') parts.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (isRecord(v)) Object.values(v).forEach(walk);
  };
  if (isRecord(body)) {
    walk(body.system);
    walk(body.messages);
    if (body.tools) parts.push(JSON.stringify(body.tools));
  }
  return parts.join('\n');
}

/** The conversation ends with tool results (Anthropic `tool_result` blocks; an OpenAI `tool` message). */
export function endsWithToolResults(body: unknown): boolean {
  const last = messagesOf(body).at(-1);
  if (last?.role === 'tool') return true;
  return last?.role === 'user' && Array.isArray(last.content) && last.content.some((p) => isRecord(p) && p.type === 'tool_result');
}
