/**
 * Structured answers: the model is asked for a JSON object that fits a JSON Schema, in each
 * provider's native way (OpenAI: `response_format` json_schema, JSON mode on older models;
 * Anthropic and echo: a forced tool, `tool_choice: {type: tool}`), and the answer is validated. An answer that does not fit is sent back once
 * with its validation errors (kept in the step's checkpoint first, with `keep`); a second one
 * fails the step with them (path and message). The answer is checked off the event loop when
 * a SchemaValidator is given (the workers' schema thread: see schema-checker.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { NonRetryableError } from '../../errors/index.js';
import { abortReason } from '../../calls/classify.js';
import { ANSWER_DESCRIPTION, askForStructure, type ChatMessage, type CompletionRequest, type Provider, type ToolCall } from '../../calls/provider.js';
import { schemaErrors } from '../../lang/json-schema.js';
import { SchemaTimeoutError, SchemaUnavailableError, type SchemaValidator } from '../../lang/schema-checker.js';
import { parseOutputJson } from '../../lang/templates.js';
import type { ExecutionContext } from '../executor.js';

export const ANSWER_TOOL = 'answer';

export interface StructuredAnswer {
  value: Record<string, unknown>;
  model: string;
  stopReason?: string;
  /** 2 when the first answer did not fit and was sent back. */
  rounds: number;
}

export interface StructuredOptions {
  /** The forced tool's name and description (default `answer`). */
  tool?: { name: string; description: string };
  /** Problems beyond the schema's (`path: message`), checked once the answer fits it. */
  check?: (value: Record<string, unknown>) => string[];
  /** What a second bad answer fails with, before its problems. */
  failure?: string;
  /**
   * The step's checkpoint: a first answer that did not fit is kept there (with the request to
   * fix it) before the second round, so a step that must wait for that round (capacity, a
   * lost worker) goes on with it and does not ask (and pay for) the first round again.
   */
  keep?: Pick<ExecutionContext, 'checkpoint' | 'saveCheckpoint'>;
  /** Checks the answer off the event loop (default: here, on it). */
  validator?: SchemaValidator | undefined;
}

/** The first round of a structured answer that did not fit, and the request to fix it. */
interface SecondRound {
  structured: 2;
  messages: ChatMessage[];
}

function isSecondRound(v: unknown): v is SecondRound {
  return v !== null && typeof v === 'object' && (v as SecondRound).structured === 2;
}

export async function structuredCall(
  provider: Provider,
  req: Omit<CompletionRequest, 'tools' | 'toolChoice'>,
  schema: Record<string, unknown>,
  opts: StructuredOptions = {},
): Promise<StructuredAnswer> {
  const name = opts.tool?.name ?? ANSWER_TOOL;
  const kept = isSecondRound(opts.keep?.checkpoint) ? opts.keep.checkpoint : undefined;
  let messages: ChatMessage[] = kept?.messages ?? req.messages;
  const ask = askForStructure(provider, req.model, { name, description: opts.tool?.description ?? ANSWER_DESCRIPTION, schema });
  for (let round = kept ? 2 : 1; ; round++) {
    const res = await provider.complete({ ...req, messages, ...ask });
    const call: ToolCall | undefined = res.toolCalls?.find((c) => c.name === name);
    const value = call ? (call.invalidInput === undefined ? call.input : undefined) : parseOutputJson(res.text);
    let errors = value === undefined ? ['(root): the answer is not JSON'] : await errorsOf(schema, value, opts.validator, req.signal);
    if (errors.length === 0 && opts.check) errors = opts.check(value as Record<string, unknown>);
    if (errors.length === 0)
      return { value: value as Record<string, unknown>, model: res.model, ...(res.stopReason ? { stopReason: res.stopReason } : {}), rounds: round };
    if (round === 2) throw new NonRetryableError(`${opts.failure ?? 'the answer does not fit the output schema'} (asked twice): ${errors.join('; ')}`);
    const fix = `Your answer does not fit what is required: ${errors.join('; ')}. Answer again${call ? ` with ${name}` : ''}, corrected.`;
    messages = call
      ? [
          ...messages,
          { role: 'assistant', content: res.text, toolCalls: [call] },
          { role: 'tool', results: [{ toolCallId: call.id, content: fix, isError: true }] },
        ]
      : [...messages, { role: 'assistant', content: res.text }, { role: 'user', content: fix }];
    const second: SecondRound = { structured: 2, messages };
    await opts.keep?.saveCheckpoint(second);
  }
}

/**
 * The answer's problems against `schema`; a check that cannot finish fails the step (the same
 * answer would fail again). The check waits in the workers' schema thread behind other runs'
 * checks, and ends with the step's timeout or cancel (`signal`). A thread that cannot take it
 * now (its queue full, its deadline passed, lost) is asked again, not the provider: the
 * answer is paid for.
 */
async function errorsOf(schema: Record<string, unknown>, value: unknown, validator: SchemaValidator | undefined, signal: AbortSignal): Promise<string[]> {
  if (!validator) return schemaErrors(schema, value);
  for (let i = 0; ; i++) {
    try {
      return await untilAborted(validator.errors(schema, value, { signal }), signal);
    } catch (err) {
      if (err instanceof SchemaTimeoutError) throw new NonRetryableError(err.message);
      if (!(err instanceof SchemaUnavailableError) || signal.aborted) throw signal.aborted ? abortReason(signal) : err;
      await sleep(Math.min(CHECK_RETRY_MS * 2 ** i, MAX_CHECK_RETRY_MS), undefined, { signal }).catch(() => undefined);
      if (signal.aborted) throw abortReason(signal);
    }
  }
}

/** How soon a check the schema thread could not take is asked again, doubling up to the most. */
const CHECK_RETRY_MS = 100;
const MAX_CHECK_RETRY_MS = 2_000;

/** `work`, or the reason `signal` fires with if it fires first (StepTimeoutError, CancelledError). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
