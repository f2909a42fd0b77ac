/**
 * Run and step records: what GET /v1/runs/:id returns, what the outbox carries to MongoDB.
 * Schemas first; the types are derived from them.
 */
import { z } from 'zod';

export const RunStatus = z.enum(['queued', 'running', 'succeeded', 'partial_success', 'failed', 'cancelled']);
export type RunStatus = z.infer<typeof RunStatus>;
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'partial_success', 'failed', 'cancelled'];

/**
 * pending: waiting for its dependencies or a worker; running: a provider call is under way;
 * retrying: an attempt failed and the next one waits for its backoff.
 */
export const StepStatus = z.enum(['pending', 'running', 'retrying', 'succeeded', 'failed', 'skipped', 'cancelled']);
export type StepStatus = z.infer<typeof StepStatus>;
export const TERMINAL_STEP_STATUSES: readonly StepStatus[] = ['succeeded', 'failed', 'skipped', 'cancelled'];
export const LIVE_STEP_STATUSES: readonly StepStatus[] = ['pending', 'running', 'retrying'];

/** The error of a step whose job ended without reporting a result. */
export const LOST_STEP_ERROR = 'the step job failed without reporting a result (worker lost or stalled too often)';

export const Usage = z.object({ inputTokens: z.number().int().nonnegative(), outputTokens: z.number().int().nonnegative() });
export type Usage = z.infer<typeof Usage>;

export const StepRecord = z.object({
  runId: z.string(),
  stepId: z.string(),
  agent: z.string(),
  status: StepStatus,
  dependsOn: z.array(z.string()),
  optional: z.boolean(),
  /** Rendered input the agent received (set when the step starts). */
  input: z.unknown().nullable(),
  output: z.string().nullable(),
  usage: Usage.nullable(),
  model: z.string().nullable(),
  /** Attempts started so far (rate-limited waits do not count). */
  attempts: z.number().int().nonnegative(),
  error: z.string().nullable(),
  /** Why a step was skipped or cancelled. */
  reason: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type StepRecord = z.infer<typeof StepRecord>;

export const FailedStep = z.object({ stepId: z.string(), agent: z.string(), error: z.string() });
export type FailedStep = z.infer<typeof FailedStep>;

export const RunRecord = z.object({
  id: z.string(),
  /** Workflow name; for a single-agent task, `agent/<name>`. */
  workflow: z.string(),
  status: RunStatus,
  input: z.unknown(),
  output: z.unknown().nullable(),
  error: z.string().nullable(),
  /** Agent types the run uses (for filtering). */
  agents: z.array(z.string()),
  failedSteps: z.array(FailedStep),
  skippedSteps: z.array(z.string()),
  usage: Usage,
  priority: z.number().int().nullable(),
  idempotencyKey: z.string().nullable(),
  scheduleId: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type RunRecord = z.infer<typeof RunRecord>;

/** One entry of a run's ordered event log (SSE, MongoDB archive). */
export const RunEvent = z.object({
  /** Redis stream id, e.g. 1732170000000-0; SSE `id:` and Last-Event-ID. */
  id: z.string(),
  type: z.enum([
    'run.queued',
    'run.started',
    'run.finished',
    'step.started',
    'step.completed',
    'step.failed',
    'step.skipped',
    'step.retrying',
    'step.cancelled',
    'step.progress',
  ]),
  runId: z.string(),
  stepId: z.string().optional(),
  at: z.string(),
  data: z.record(z.string(), z.unknown()).default({}),
});
export type RunEvent = z.infer<typeof RunEvent>;
export type RunEventType = RunEvent['type'];

/** What the outbox stream carries to the system of record. */
export type OutboxEntry =
  | { kind: 'run'; id: string; doc: RunRecord }
  | { kind: 'step'; id: string; doc: StepRecord };
