/**
 * What a step keeps on its record to debug it, gathered while it works and written with the
 * step machine's next write (a checkpoint, a retry, a wait, the failure, the result): never a
 * write of its own. It holds the step's last provider call (`debug`: the request as rendered,
 * and the answer as received or the provider's error body), the rendered input, and the tool
 * calls of its turns (`calls`), each cut to SWITCHYARD_MAX_DEBUG_BYTES (with a result, without
 * repeating its input and output). Every provider call of a step goes through it
 * (ExecutionContext.metered); the request is provider-neutral, so no key or header is in it.
 */
import { BudgetExceededError, CapacityWaitError, QuotaRefusedError, TooLargeForLimitError } from '../errors/index.js';
import { providerErrorBody } from '../calls/error-body.js';
import { buildMessages } from '../calls/prompt.js';
import { ProviderDecorator, type ChatMessage, type CompletionRequest, type CompletionResult, type Provider } from '../calls/provider.js';
import type { RecordFields } from '../store/run-store.js';
import type { StepDebug, ToolCallRecord } from '../model/run.js';
import type { StepInput } from '../kinds/definition.js';
import { clipJson } from '../lang/clip-json.js';
import { fitCalls } from '../kinds/shared/tool-calls.js';

/** What `attempt` and `truncated` take of the budget, at most. */
const ENVELOPE_BYTES = 64;

interface Call {
  req: CompletionRequest;
  outcome: { answer: CompletionResult } | { error: unknown };
  attempt: number;
}

export class StepTrace {
  private last: Call | undefined;
  private fields: { input?: unknown; calls?: ToolCallRecord[] } = {};

  constructor(
    /** Most bytes kept of the last call, and of the calls; 0 keeps neither. */
    private readonly maxBytes: number,
    /** Whose `attempt` is the one the step runs now (its delivery). */
    private readonly of: { readonly attempt: number },
  ) {}

  /** `inner`, its calls recorded here. */
  around(inner: Provider): Provider {
    return this.maxBytes > 0 ? new TracedProvider(inner, this) : inner;
  }

  /** A call that reached the provider, and how it ended. */
  called(req: CompletionRequest, outcome: Call['outcome']): void {
    // The conversation may grow after the call (an orchestrator appends the answer): keep it as sent.
    this.last = { req: { ...req, messages: [...req.messages] }, outcome, attempt: this.of.attempt };
  }

  /** Keep the rendered input, or the calls of its turns so far, with the next write. */
  record(fields: { input?: unknown; calls?: ToolCallRecord[] }): void {
    Object.assign(this.fields, fields);
  }

  /**
   * The record fields gathered since the last take (none when nothing changed), and start
   * again. `result`: the step's result, written with them (its debug does not repeat it);
   * `withInput` false: without the rendered input (the result's own is recorded instead).
   */
  take(result?: Shown, withInput = true): RecordFields {
    const { input, calls } = this.fields;
    const out: RecordFields = {};
    if (withInput && Object.hasOwn(this.fields, 'input')) out.input = input ?? null;
    if (calls && this.maxBytes > 0) out.calls = fitCalls(calls, this.maxBytes);
    if (this.last) out.debug = debugOf(this.last, this.maxBytes, result);
    this.fields = {};
    this.last = undefined;
    return out;
  }
}

/** What a succeeded step's record shows already. */
interface Shown {
  input: unknown;
  output: unknown;
}

/**
 * The record of a call, within `maxBytes` of JSON. With the step's result (`shown`), what the
 * record shows already is not repeated (an answer of KBs would be kept twice on every step):
 * the messages when they are its input as sent (one call's task and context), the answer's
 * text when it is its output.
 */
export function debugOf(call: Call, maxBytes: number, shown?: Shown): StepDebug {
  const { req, outcome } = call;
  const inputShown = shown !== undefined && isStepInput(shown.input) && isPromptOf(req.messages, shown.input);
  // Made for every call a step records: fields set one by one (in the order of their JSON), not
  // spread from an object made for each.
  const request: Record<string, unknown> = { model: req.model };
  if (req.system) request.system = req.system;
  if (!inputShown) request.messages = req.messages;
  if (req.tools?.length) request.tools = req.tools;
  if (req.toolChoice) request.toolChoice = req.toolChoice;
  if (req.responseSchema) request.responseSchema = req.responseSchema;
  if (req.temperature !== undefined) request.temperature = req.temperature;
  request.maxTokens = req.maxTokens;
  const content: Pick<StepDebug, 'request' | 'answer' | 'error'> = { request };
  if ('answer' in outcome) {
    // Its usage is counted on the step; the model that answered, when another one did (a fallback).
    const { text, toolCalls, stopReason, model } = outcome.answer;
    const answer: Record<string, unknown> = {};
    if (shown === undefined || text !== shown.output) answer.text = text;
    if (toolCalls?.length) answer.toolCalls = toolCalls;
    if (stopReason) answer.stopReason = stopReason;
    if (model !== req.model) answer.model = model;
    content.answer = answer;
  } else {
    content.error = providerErrorBody(outcome.error);
  }
  const { value, truncated } = clipJson(content, Math.max(0, maxBytes - ENVELOPE_BYTES));
  // Too large even cut (a note in its place): the request gives way.
  const kept = typeof value === 'object' && value !== null ? (value as Pick<StepDebug, 'request' | 'answer' | 'error'>) : { request: { note: value } };
  const debug: StepDebug = { attempt: call.attempt, ...kept };
  if (truncated) debug.truncated = true;
  return debug;
}

/**
 * Whether `messages` are the conversation `buildMessages(input)` gives, as their JSON texts would
 * compare (its one user message, no other field), without writing either text.
 */
function isPromptOf(messages: readonly ChatMessage[], input: StepInput): boolean {
  if (messages.length !== 1) return false;
  const m = messages[0]!;
  if (m.role !== 'user' || typeof m.content !== 'string') return false;
  // JSON leaves out a field whose value is undefined (or a function): any other field tells them apart.
  let fields = 0;
  for (const [k, v] of Object.entries(m)) {
    if (v === undefined || typeof v === 'function') continue;
    if (k !== (fields === 0 ? 'role' : 'content')) return false;
    fields++;
  }
  return fields === 2 && m.content === buildMessages(input)[0]!.content;
}

const isStepInput = (v: unknown): v is StepInput => typeof v === 'object' && v !== null && typeof (v as StepInput).task === 'string';

/** Refusals before a call is made (the limiter, a spent quota's pause, the run's budget): nothing reached the provider. */
const notCalled = (err: unknown) =>
  err instanceof CapacityWaitError || err instanceof BudgetExceededError || err instanceof TooLargeForLimitError || err instanceof QuotaRefusedError;

/** A provider whose calls are recorded on a trace: the request, and the answer or the error. */
class TracedProvider extends ProviderDecorator {
  constructor(
    inner: Provider,
    private readonly trace: StepTrace,
  ) {
    super(inner);
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    let res: CompletionResult;
    try {
      res = await this.inner.complete(req);
    } catch (err) {
      if (!notCalled(err)) this.trace.called(req, { error: err });
      throw err;
    }
    this.trace.called(req, { answer: res });
    return res;
  }
}
