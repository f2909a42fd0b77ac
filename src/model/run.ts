/**
 * Run and step records: what GET /v1/runs/:id returns, what the outbox carries to MongoDB.
 * Schemas first; the types are derived from them. Nothing here assumes a step calls an agent:
 * a step has a `kind`, and `agent` only when an agent's pool runs it.
 */
import { z } from 'zod';
import { Budget } from './budget.js';
import { StepKind } from './step-kind.js';
import { WorkOutput } from './work-output.js';

/** `waiting`: running, and an approval gate waits for a person's decision. */
export const RunStatus = z.enum(['queued', 'running', 'waiting', 'succeeded', 'partial_success', 'failed', 'cancelled', 'budget_exceeded']);
export type RunStatus = z.infer<typeof RunStatus>;
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'partial_success', 'failed', 'cancelled', 'budget_exceeded'];

/**
 * pending: waiting for its dependencies or a worker; running: its work is under way;
 * waiting: it added steps to the run and waits for them (no worker slot held);
 * retrying: an attempt failed and the next one waits for its backoff.
 */
export const StepStatus = z.enum(['pending', 'running', 'waiting', 'retrying', 'succeeded', 'failed', 'skipped', 'cancelled']);
export type StepStatus = z.infer<typeof StepStatus>;
export const TERMINAL_STEP_STATUSES: readonly StepStatus[] = ['succeeded', 'failed', 'skipped', 'cancelled'];
/** How the reason of a step that waits for the shared limiter begins (then: the scope and the limit). */
export const CAPACITY_WAIT = 'waiting for provider capacity: ';
/** How the reason of a step held by one of its workspace's caps begins (then: the cap, e.g. `maxRunningSteps 2 of workspace acme (2 running)`). */
export const WORKSPACE_CAP_WAIT = 'waiting for a workspace cap: ';

export const LIVE_STEP_STATUSES: readonly StepStatus[] = ['pending', 'running', 'waiting', 'retrying'];
export const isTerminalStep = (s: StepStatus): boolean => TERMINAL_STEP_STATUSES.includes(s);
export const isTerminalRun = (s: RunStatus): boolean => TERMINAL_RUN_STATUSES.includes(s);

/**
 * The fast path's start rule, stated once: the script that reads a step (step-begin.lua) starts
 * it by itself when the engine allows it (no `when`, no join other than `all`), the step is in
 * FAST_START_FROM with attempts left, its run is live, and every dependency is usable. The
 * script is given these lists as constants (scripts/script.ts); `decide` answers `start` in
 * each such case (test/store/scripts.test.ts).
 */
export const FAST_START_FROM: readonly StepStatus[] = ['pending', 'retrying'];
/** A dependency's statuses that let the fast path start its dependent: any, or only an optional one's. */
export const FAST_START_DEPS: { readonly any: readonly StepStatus[]; readonly optional: readonly StepStatus[] } = { any: ['succeeded'], optional: ['failed'] };
/** Whether a dependency lets the fast path start its dependent. */
export const usableDependency = (d: { status: StepStatus; optional: boolean }): boolean =>
  FAST_START_DEPS.any.includes(d.status) || (d.optional && FAST_START_DEPS.optional.includes(d.status));

/** How the `reason` of an approval gate that waits for a decision starts (not one waiting for its revision). */
export const GATE_WAITING_REASON = 'waiting for approval';

/** How the `reason` of an agent step whose tool calls wait for a person's decision starts (it starts as a gate's does). */
export const TOOL_APPROVAL_REASON = `${GATE_WAITING_REASON} of tool calls`;

/** An approval gate, or an agent step's tool calls, waiting for a person's decision. */
export const awaitsDecision = (s: { kind: string; status: string; reason: string | null }): boolean =>
  (s.kind === 'approval' || s.kind === 'agent') && s.status === 'waiting' && (s.reason ?? '').startsWith(GATE_WAITING_REASON);

/** The error of a step whose job ended without reporting a result. */
export const LOST_STEP_ERROR = 'the step job failed without reporting a result (worker lost or stalled too often)';

/** The owner of a run. Every run has one; until workspaces exist it is `default`. */
export const WorkspaceId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be lowercase letters, digits, "_" or "-" (at most 64)');
export const DEFAULT_WORKSPACE = 'default';

export const Usage = z.object({
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  /** What the tokens cost (USD), when the model's price is known (src/calls/pricing.ts). */
  costUsd: z.number().nonnegative().optional(),
  /**
   * Some of these tokens are estimates: a provider's answer reported no usage (some
   * OpenAI-compatible servers, in streams), so they were counted here (src/calls/token-estimate.ts).
   */
  estimated: z.boolean().optional(),
  /**
   * Of `inputTokens`, those read from the provider's prompt cache (Anthropic's
   * cache_read_input_tokens, OpenAI's prompt_tokens_details.cached_tokens), priced at its cache
   * rate (about a tenth of the input price).
   */
  cacheReadTokens: z.number().int().nonnegative().optional(),
  /** Of `inputTokens`, those written to the provider's prompt cache (Anthropic's cache_creation_input_tokens, 1.25 × the input price). */
  cacheWriteTokens: z.number().int().nonnegative().optional(),
  /** Calls answered from the response cache (the agent's `cache`): no provider call, no tokens, no cost. */
  cachedCalls: z.number().int().nonnegative().optional(),
  /** What those calls cost when they were first answered (USD): what the response cache saved. */
  costSavedUsd: z.number().nonnegative().optional(),
});
export type Usage = z.infer<typeof Usage>;

/** What someone thought of a step's result (seed 002's TaskFeedback): POST /v1/runs/:id/steps/:stepId/feedback. */
export const StepFeedback = z.object({
  rating: z.number().int().min(1).max(5),
  useful: z.boolean().optional(),
  comment: z.string().max(4000).optional(),
  at: z.string(),
});
export type StepFeedback = z.infer<typeof StepFeedback>;

/** A provider's error as it answered, never its headers: HTTP status, error type and code, message. */
export const ProviderErrorBody = z.object({
  status: z.number().int().optional(),
  type: z.string().optional(),
  code: z.string().optional(),
  message: z.string(),
});
export type ProviderErrorBody = z.infer<typeof ProviderErrorBody>;

/**
 * A step's last provider call, to debug it: the request as rendered (model, system prompt,
 * messages, tools offered, the structure asked for) and the model's answer as received (before
 * any check: text, tool calls, stop reason, the model when another one answered, e.g. a
 * fallback; its usage is counted on the step) or the provider's error. Cut to fit
 * SWITCHYARD_MAX_DEBUG_BYTES (`truncated`). No keys or headers: the request is provider-neutral.
 */
export const StepDebug = z.object({
  /** The attempt that made the call (its events say when). */
  attempt: z.number().int().nonnegative(),
  request: z.record(z.string(), z.unknown()),
  answer: z.record(z.string(), z.unknown()).optional(),
  error: ProviderErrorBody.optional(),
  /** Parts of it were cut to fit. */
  truncated: z.boolean().optional(),
});
export type StepDebug = z.infer<typeof StepDebug>;

/**
 * One tool call of an agent's turn and its outcome: its result, or the error the model was
 * given (an agent it may not call, bad arguments, a failed delegate). A delegation names the
 * child `step` it became; its outcome comes once that step has finished. Long parts are cut.
 */
export const ToolCallRecord = z.object({
  /** The model call (turn) that asked for it, from 1. */
  turn: z.number().int().positive(),
  /** The provider's id of the call. */
  id: z.string(),
  name: z.string(),
  args: z.unknown(),
  step: z.string().optional(),
  result: z.string().optional(),
  error: z.string().optional(),
  /** A call that waited for a person: who decided, when, with what comment (a call still waiting: `{waiting: true}`). */
  approval: z
    .union([z.object({ approved: z.boolean(), by: z.string(), comment: z.string().nullable(), at: z.string() }), z.object({ waiting: z.literal(true) })])
    .optional(),
});
export type ToolCallRecord = z.infer<typeof ToolCallRecord>;

export const StepRecord = z.object({
  runId: z.string(),
  stepId: z.string(),
  kind: StepKind,
  /** The agent type whose pool runs the step; null for steps the engine runs itself. */
  agent: z.string().nullable(),
  /** The step that added this one while the run executed; null for the definition's steps. */
  parent: z.string().nullable(),
  status: StepStatus,
  dependsOn: z.array(z.string()),
  optional: z.boolean(),
  /** Rendered input the step's work received (set when it finishes, fails or retries after rendering it). */
  input: z.unknown().nullable(),
  /** The step's result: an agent's answer text; other kinds may produce JSON. */
  output: z.unknown().nullable(),
  usage: Usage.nullable(),
  model: z.string().nullable(),
  /** Attempts started so far, an attempt cut short by a crash included (rate-limited waits do not count). */
  attempts: z.number().int().nonnegative(),
  /** The last attempt took over from one whose worker was lost (crash, stall). */
  recovered: z.boolean(),
  /** A rerun reused this step's recorded output from that run (no provider call), else null. */
  reusedFrom: z.string().nullable(),
  /** Its answer came from the agent's response cache (no provider call; `usage.costSavedUsd` says what it saved); absent (or null) otherwise. */
  cached: z.boolean().nullish(),
  error: z.string().nullable(),
  /** Why a step was skipped or cancelled, or what it waits for. */
  reason: z.string().nullable(),
  /** When a step in a retry backoff starts its next attempt (ISO); null otherwise. */
  retryAt: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** The last feedback given on its result, else null. */
  feedback: StepFeedback.nullable(),
  // Both absent from records written before they were kept; one that does not parse never
  // costs the rest of the record its archive (the outbox refuses a record that does not parse).
  /** Its last provider call (request, and answer or error), whatever its ending; null when it called none. */
  debug: StepDebug.nullable().default(null).catch(null),
  /** The tool calls of its turns with their outcomes (an orchestrator's), else null. */
  calls: z.array(ToolCallRecord).nullable().default(null).catch(null),
});
export type StepRecord = z.infer<typeof StepRecord>;

export const FailedStep = z.object({ stepId: z.string(), kind: StepKind, agent: z.string().nullable(), error: z.string() });
export type FailedStep = z.infer<typeof FailedStep>;

export { Budget } from './budget.js';

/** Who wrote a name of a run's shared context: the step, its place in the topological order, and its authority (ranked first under `conflict: authority`). */
export const ContextWriter = z.object({ step: z.string(), order: z.number(), authority: z.number() });
export type ContextWriter = z.infer<typeof ContextWriter>;

export const RunRecord = z.object({
  id: z.string(),
  workspaceId: WorkspaceId,
  /** Workflow name; for a single-agent task, `agent/<name>`. */
  workflow: z.string(),
  status: RunStatus,
  input: z.unknown(),
  output: z.unknown().nullable(),
  error: z.string().nullable(),
  /** Agent types whose pools run the run's steps (for filtering); grows with the run. */
  agents: z.array(z.string()),
  failedSteps: z.array(FailedStep),
  skippedSteps: z.array(z.string()),
  usage: Usage,
  priority: z.number().int().nullable(),
  idempotencyKey: z.string().nullable(),
  scheduleId: z.string().nullable(),
  /** The run this one reruns (POST /v1/runs/:id/rerun), else null. */
  rerunOf: z.string().nullable(),
  /** The API key that submitted it (its id; never the key): its spend envelope held the run. Null: a token, a session, a schedule set without a key, the open mode. */
  keyId: z.string().nullable(),
  /** Limits on what the run may spend (the request's, else its workflow's), else null. */
  budget: Budget.nullable(),
  /** The run's shared context: what its steps published, by name (null until a step publishes). */
  context: z.record(z.string(), z.unknown()).nullable(),
  /** Which step wrote each name of `context`. */
  contextWriters: z.record(z.string(), ContextWriter).nullable(),
  /** The named work outputs its steps emitted (`emit_output`), in the order emitted; null until one is. */
  outputs: z.array(WorkOutput).nullable().default(null).catch(null),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type RunRecord = z.infer<typeof RunRecord>;

/** What GET /v1/runs may add to each run of a page (by default a page lists summaries). */
export const RunListInclude = z.enum(['input', 'output', 'context', 'outputs']);
export type RunListInclude = z.infer<typeof RunListInclude>;

/** The fields of a run record a listing leaves out unless asked for. */
const LISTED_ON_REQUEST = ['input', 'output', 'context', 'contextWriters', 'outputs'] as const;
type OnRequest = (typeof LISTED_ON_REQUEST)[number];

/** A run as a listing shows it: its record without input, output, context and work outputs, unless asked for. */
export type RunSummary = Omit<RunRecord, OnRequest> & Partial<Pick<RunRecord, OnRequest>>;

/** Whether a listing that includes `include` shows `field` of a run record. */
export const listedField = (field: string, include: readonly RunListInclude[]): boolean =>
  !(LISTED_ON_REQUEST as readonly string[]).includes(field) || include.includes((field === 'contextWriters' ? 'context' : field) as RunListInclude);

/** A run record cut to a summary with the fields `include` names. */
export function toSummary(run: RunRecord, include: readonly RunListInclude[]): RunSummary {
  return Object.fromEntries(Object.entries(run).filter(([k]) => listedField(k, include))) as RunSummary;
}

export const RUN_EVENT_TYPES = [
  'run.queued',
  'run.started',
  'run.finished',
  'step.added',
  'step.started',
  'step.waiting',
  'step.resumed',
  'step.completed',
  'step.failed',
  'step.skipped',
  'step.retrying',
  'step.cancelled',
  'step.progress',
  'step.delta',
  'step.approved',
  'step.rejected',
  'run.waiting',
  'run.resumed',
  'budget.warning',
  'context.updated',
  'output.emitted',
] as const;

/**
 * One entry of a run's ordered event log (SSE, MongoDB archive), or a live-only `step.delta`
 * (a streaming step's text as it arrives: never in the log, see docs/streaming.md).
 */
export const RunEvent = z.object({
  /**
   * Its position in the run's log, from 1 ("1", "2", ...); SSE `id:` and Last-Event-ID. A
   * `step.delta` is not in the log: its id is "" (its SSE frame has no `id:`).
   */
  id: z.string(),
  type: z.enum(RUN_EVENT_TYPES),
  runId: z.string(),
  stepId: z.string().optional(),
  at: z.string(),
  data: z.record(z.string(), z.unknown()).default({}),
});
export type RunEvent = z.infer<typeof RunEvent>;
export type RunEventType = RunEvent['type'];

/** What the outbox stream carries to the system of record. */
export type OutboxEntry =
  { kind: 'run'; id: string; doc: RunRecord; definition?: unknown } | { kind: 'step'; id: string; doc: StepRecord; workspaceId?: string };
