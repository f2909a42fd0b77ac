/**
 * What to answer one request. A **plan** says it loosely (a status, a text, tool calls, pauses,
 * how a stream breaks); the simulator makes its own from its config, and a test may hand one in
 * (`SimHooks.plan`). An **answer** is a successful plan made exact: ids, tool-call arguments as
 * the JSON text sent, the stop reason and the usage, the same for both APIs' wire formats.
 */
import { sampleFor } from '../lang/schema-sample.js';
import type { SimConfig } from './config.js';
import type { Random } from './random.js';
import type { Wants } from './request.js';
import { cutToTokens, words } from './text.js';

/** How a streamed answer breaks off after its first piece, with an error event. */
export type StreamErrorKind = 'server' | 'overloaded' | 'rate_limit' | 'invalid';

export interface PlannedToolCall {
  id?: string;
  name: string;
  input?: unknown;
  /** The arguments sent as they are (e.g. broken JSON), instead of `input`'s JSON. */
  arguments?: string;
}

export interface Plan {
  /** An error status (400 and above) answers with the API's error shape. @default 200 */
  status?: number;
  /** This JSON body, as it is, instead of the API's own. */
  body?: unknown;
  /** The answer's text (with tool calls: the text before them). */
  text?: string;
  headers?: Record<string, string>;
  /** Milliseconds before answering; a client that gives up meanwhile is recorded. */
  delayMs?: number;
  /** A streamed answer comes in at most this many pieces (default: a piece a word). */
  chunks?: number;
  /** Milliseconds before each piece of a streamed answer. */
  chunkDelayMs?: number;
  streamError?: StreamErrorKind;
  /** A streamed answer ends cleanly after its first piece, unfinished (no stop reason). */
  streamCut?: boolean;
  toolCalls?: PlannedToolCall[];
  /** An error answer's type (and OpenAI code), instead of the status's own. */
  errorType?: string;
  /** The text stopped at the request's max tokens. */
  truncated?: boolean;
  /** Prompt tokens read from and written to the prompt cache, of the prompt's (instead of what the simulated cache says). */
  cache?: { read?: number; write?: number };
}

export interface ToolCallOut {
  id: string;
  name: string;
  /** The arguments as the JSON text sent. */
  arguments: string;
}

export interface Answer {
  id: string;
  /** When it was made (s since the epoch): OpenAI's `created`, the same in every chunk of a stream. */
  created: number;
  model: string;
  text: string;
  toolCalls: ToolCallOut[];
  stop: 'end' | 'tool' | 'length';
  /** `input` is the whole prompt's; `cacheRead` and `cacheWrite` the part of it read from, written to, the prompt cache. */
  usage: { input: number; output: number; cacheRead: number; cacheWrite: number };
}

/** The simulator's own plan for a request: its latency, then a forced tool's call, JSON, or text of the configured size. */
export function configuredPlan(wants: Wants, config: SimConfig, random: Random, count: (text: string) => number): Plan {
  const delayMs = Math.round(random.draw(config.latencyMs));
  const phrase = () => words(4, random, count);
  if (wants.forcedTool) return { delayMs, toolCalls: [{ name: wants.forcedTool.name, input: sampleFor(wants.forcedTool.schema, phrase()) }] };
  if (wants.json) return { delayMs, text: JSON.stringify(wants.json === 'object' ? { answer: phrase() } : sampleFor(wants.json.schema, phrase())) };
  const text = config.reply ?? words(Math.max(1, Math.round(random.draw(config.outputTokens))), random, count);
  if (wants.maxTokens !== undefined && count(text) > wants.maxTokens) return { delayMs, text: cutToTokens(text, wants.maxTokens, count), truncated: true };
  return { delayMs, text };
}

/** A successful plan made exact. `idPrefix` names the API's ids (`msg_`, `chatcmpl-`), `callPrefix` its tool calls' (`toolu_`, `call_`). */
export function answerOf(
  plan: Plan,
  at: { model: string; inputTokens: number; idPrefix: string; callPrefix: string; cache?: { read: number; write: number } },
  random: Random,
  count: (text: string) => number,
): Answer {
  const toolCalls = (plan.toolCalls ?? []).map((c) => ({
    id: c.id ?? `${at.callPrefix}${random.id(16)}`,
    name: c.name,
    arguments: c.arguments ?? JSON.stringify(c.input ?? {}),
  }));
  const text = plan.text ?? '';
  const output = count(text) + toolCalls.reduce((n, c) => n + count(c.arguments), 0);
  return {
    id: `${at.idPrefix}${random.id(16)}`,
    created: Math.floor(Date.now() / 1000),
    model: at.model,
    text,
    toolCalls,
    stop: toolCalls.length ? 'tool' : plan.truncated ? 'length' : 'end',
    usage: {
      input: at.inputTokens,
      output,
      cacheRead: Math.min(plan.cache?.read ?? at.cache?.read ?? 0, at.inputTokens),
      cacheWrite: Math.min(plan.cache?.write ?? at.cache?.write ?? 0, at.inputTokens),
    },
  };
}
