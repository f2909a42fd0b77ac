/**
 * What a step keeps on its record to debug it, gathered while it works and written with the
 * step machine's next write (a checkpoint, a retry, a wait, the failure, the result): never a
 * write of its own. It holds the step's last provider call (`debug`: the request as rendered,
 * and the answer as received or the provider's error body), the rendered input, and the tool
 * calls of its turns (`calls`), each cut to SWITCHYARD_MAX_DEBUG_BYTES. Every provider call of
 * a step goes through it (ExecutionContext.metered); the request is provider-neutral, so no key
 * or header is ever in it.
 */
import { BudgetExceededError, CapacityWaitError, TooLargeForLimitError } from '../errors/index.js';
import { providerErrorBody } from '../providers/error-body.js';
import { ProviderDecorator, type CompletionRequest, type CompletionResult, type Provider } from '../providers/provider.js';
import type { RecordFields } from '../runs/run-store.js';
import type { StepDebug, ToolCallRecord } from '../runs/types.js';
import { clipJson } from './clip-json.js';
import { fitCalls } from './tool-calls.js';

/** What `attempt` and `at` (and `truncated`) take of the budget, at most. */
const ENVELOPE_BYTES = 100;

interface Call {
  req: CompletionRequest;
  outcome: { answer: CompletionResult } | { error: unknown };
  attempt: number;
  at: string;
}

export class StepTrace {
  private last: Call | undefined;
  private fields: { input?: unknown; calls?: ToolCallRecord[] } = {};

  constructor(
    /** Most bytes kept of the last call, and of the calls; 0 keeps neither. */
    private readonly maxBytes: number,
    /** The attempt the step runs now. */
    private readonly attempt: () => number,
  ) {}

  /** `inner`, its calls recorded here. */
  around(inner: Provider): Provider {
    return this.maxBytes > 0 ? new TracedProvider(inner, this) : inner;
  }

  /** A call that reached the provider, and how it ended. */
  called(req: CompletionRequest, outcome: Call['outcome']): void {
    // The conversation may grow after the call (an orchestrator appends the answer): keep it as sent.
    this.last = { req: { ...req, messages: [...req.messages] }, outcome, attempt: this.attempt(), at: new Date().toISOString() };
  }

  /** Keep the rendered input, or the calls of its turns so far, with the next write. */
  record(fields: { input?: unknown; calls?: ToolCallRecord[] }): void {
    Object.assign(this.fields, fields);
  }

  /** The record fields gathered since the last take (none when nothing changed), and start again. */
  take(): RecordFields {
    const { input, calls } = this.fields;
    const out: RecordFields = {};
    if (Object.hasOwn(this.fields, 'input')) out.input = input ?? null;
    if (calls && this.maxBytes > 0) out.calls = fitCalls(calls, this.maxBytes);
    if (this.last) out.debug = debugOf(this.last, this.maxBytes);
    this.fields = {};
    this.last = undefined;
    return out;
  }
}

/** The record of a call, within `maxBytes` of JSON. */
export function debugOf(call: Call, maxBytes: number): StepDebug {
  const { req, outcome } = call;
  const request = {
    model: req.model,
    ...(req.system ? { system: req.system } : {}),
    messages: req.messages,
    ...(req.tools?.length ? { tools: req.tools } : {}),
    ...(req.toolChoice ? { toolChoice: req.toolChoice } : {}),
    ...(req.responseSchema ? { responseSchema: req.responseSchema } : {}),
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    maxTokens: req.maxTokens,
  };
  let ending: Pick<StepDebug, 'answer' | 'error'>;
  if ('answer' in outcome) {
    const { text, toolCalls, stopReason, model, usage } = outcome.answer;
    ending = { answer: { text, ...(toolCalls?.length ? { toolCalls } : {}), ...(stopReason ? { stopReason } : {}), model, usage } };
  } else {
    ending = { error: providerErrorBody(outcome.error) };
  }
  const { value, truncated } = clipJson({ request, ...ending }, Math.max(0, maxBytes - ENVELOPE_BYTES));
  // Too large even cut (a note in its place): the request gives way.
  const kept = typeof value === 'object' && value !== null ? (value as Pick<StepDebug, 'request' | 'answer' | 'error'>) : { request: { note: value } };
  return { attempt: call.attempt, at: call.at, ...kept, ...(truncated ? { truncated: true } : {}) };
}

/** Refusals before a call is made (the limiter, the run's budget): nothing reached the provider. */
const notCalled = (err: unknown) => err instanceof CapacityWaitError || err instanceof BudgetExceededError || err instanceof TooLargeForLimitError;

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
