/**
 * The schemas of what the runs API answers: the single source of truth for the answers, as
 * schemas.ts is for the requests. Built on the records of src/model (a run, a step, an event)
 * and the views of src/query; GET /openapi.json describes them, the spec test checks real
 * answers against them, and the typed client (src/client) takes its types from them.
 */
import { z } from 'zod';
import { CompiledWorkflow } from '../kinds/definition.js';
import { ContextWriter, RunEvent, RunRecord, RunStatus, StepFeedback, StepRecord, StepStatus, Usage } from '../model/run.js';
import { StepKind } from '../model/step-kind.js';
import { WorkOutput } from '../model/work-output.js';
import { WaitingFor } from '../query/waiting.js';

/** Every error answer: `{error: {code, message, issues?}}` (errors.ts). */
export const ErrorBody = z.object({
  error: z
    .object({
      /** Stable, for programs: `invalid_request`, `not_found`, `conflict`, `unauthorized`, `forbidden`, `rate_limited`... */
      code: z.string(),
      /** For people: what is wrong, naming the field or value. */
      message: z.string(),
      /** Each bad field of a 422. */
      issues: z.array(z.object({ path: z.string(), message: z.string() }).strict()).optional(),
    })
    .strict(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** POST /v1/runs (and /v1/chat/multi): 202 with a new run, 200 when an idempotency key names one already made. */
export const SubmitAnswer = z.object({ id: z.string(), status: RunStatus, idempotentReplay: z.literal(true).optional(), mode: z.string().optional() }).strict();
export type SubmitAnswer = z.infer<typeof SubmitAnswer>;

export const DagNode = z
  .object({
    id: z.string(),
    kind: StepKind,
    agent: z.string().nullable(),
    parent: z.string().nullable(),
    status: StepStatus,
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    durationMs: z.number().nullable(),
  })
  .strict();
/** A dependency edge, or (`kind: 'parent'`) the edge from a step to a step it added. */
export const DagEdge = z.object({ from: z.string(), to: z.string(), kind: z.literal('parent').optional() }).strict();

/** A step as GET /v1/runs/:id shows it: its record and, while it is not running, what it waits for. */
export const StepView = StepRecord.extend({ waitingFor: WaitingFor.optional() });
/** A gate a run waits at: since when, and when it decides by itself (null: never). */
export const GateWait = z.object({ stepId: z.string(), since: z.string().nullable(), deadline: z.string().nullable() }).strict();

/** GET /v1/runs/:id: the run's record, its steps, its DAG; `definition` with `?include=definition`. */
export const RunView = RunRecord.extend({
  waitingAt: z.array(GateWait).optional(),
  steps: z.array(StepView),
  dag: z.object({ nodes: z.array(DagNode), edges: z.array(DagEdge) }).strict(),
  definition: CompiledWorkflow.optional(),
});
export type RunView = z.infer<typeof RunView>;

/** A submission's 200: the run, finished (`?wait`: it ended in time), or with `idempotentReplay` (an idempotency key named it). */
export const SubmittedOrFinished = z.union([RunView, SubmitAnswer]);

/** A run in a listing: its record without input, output, context and work outputs unless `include` asks for them. */
export const RunSummary = RunRecord.partial({ input: true, output: true, context: true, contextWriters: true, outputs: true });
export type RunSummary = z.infer<typeof RunSummary>;

/** GET /v1/runs: newest first; `nextCursor` (pass it back as `cursor`) is null on the last page. */
export const RunList = z.object({ runs: z.array(RunSummary), nextCursor: z.string().nullable() }).strict();
export type RunList = z.infer<typeof RunList>;

/** GET /v1/runs/:id/context. */
export const RunContext = z.object({ runId: z.string(), context: z.record(z.string(), z.unknown()), writers: z.record(z.string(), ContextWriter) }).strict();

/** GET /v1/runs/:id/outputs. */
export const RunOutputs = z.object({ runId: z.string(), outputs: z.array(WorkOutput) }).strict();
export type RunOutputs = z.infer<typeof RunOutputs>;

/** POST /v1/runs/:id/cancel. */
export const CancelAnswer = z.object({ id: z.string(), status: RunStatus }).strict();
export type CancelAnswer = z.infer<typeof CancelAnswer>;

/** POST /v1/runs/:id/rerun: the new run. */
export const RerunAnswer = z.object({ id: z.string(), status: RunStatus, rerunOf: z.string() }).strict();
export type RerunAnswer = z.infer<typeof RerunAnswer>;

/** POST /v1/runs/:id/steps/:stepId/approve | reject. */
export const DecisionAnswer = z
  .object({
    runId: z.string(),
    stepId: z.string(),
    decision: z.object({ approved: z.boolean(), by: z.string(), comment: z.string().nullable(), at: z.string() }).strict(),
  })
  .strict();
export type DecisionAnswer = z.infer<typeof DecisionAnswer>;

/** POST /v1/runs/:id/steps/:stepId/feedback. */
export const FeedbackAnswer = z.object({ runId: z.string(), stepId: z.string(), feedback: StepFeedback }).strict();

/** One frame of GET /v1/runs/:id/events (`id:` is its `id`, `event:` its `type`, `data:` the whole event as JSON). */
export { RunEvent };

const rate = z.number().nullable();
const quantiles = z.object({ p50: z.number().nullable(), p95: z.number().nullable() }).strict();

/** GET /v1/stats (src/query/stats.ts). */
export const Stats = z
  .object({
    since: z.string(),
    until: z.string(),
    registeredAgents: z.number().int(),
    agentNames: z.array(z.string()),
    runs: z
      .object({
        total: z.number().int(),
        succeeded: z.number().int(),
        partialSuccess: z.number().int(),
        failed: z.number().int(),
        cancelled: z.number().int(),
        budgetExceeded: z.number().int(),
        inProgress: z.number().int(),
        completed: z.number().int(),
        successRate: rate,
      })
      .strict(),
    agents: z.record(
      z.string(),
      z
        .object({
          steps: z.number().int(),
          succeeded: z.number().int(),
          failed: z.number().int(),
          cancelled: z.number().int(),
          successRate: rate,
          latencyMs: quantiles,
          tokens: z.object({ input: z.number().int(), output: z.number().int() }).strict(),
          costUsd: z.number(),
          rating: z.object({ average: z.number().nullable(), count: z.number().int(), useful: z.number().int() }).strict(),
          memoHits: z.number().int(),
          /** Steps answered from the response cache, and what they saved (USD). */
          cache: z.object({ hits: z.number().int(), costSavedUsd: z.number() }).strict(),
          /** Of its succeeded steps (a rerun's reused ones left out), the share answered from the response cache (seed 002's cacheHitRate); null: none. */
          cacheHitRate: rate,
          models: z.array(z.string()),
        })
        .strict(),
    ),
    workflows: z.record(
      z.string(),
      z
        .object({
          runs: z.number().int(),
          completed: z.number().int(),
          failed: z.number().int(),
          successRate: rate,
          costUsd: z.number(),
          durationMs: quantiles,
        })
        .strict(),
    ),
    trend: z
      .object({
        bucketMs: z.number().int(),
        buckets: z.array(
          z
            .object({
              start: z.string(),
              runs: z.number().int(),
              completed: z.number().int(),
              failed: z.number().int(),
              steps: z.number().int(),
              tokens: z.number().int(),
              costUsd: z.number(),
            })
            .strict(),
        ),
      })
      .strict(),
    /** Runs read (at most 2000, newest first); `truncated` when the window held more. */
    scanned: z.number().int(),
    truncated: z.boolean(),
  })
  .strict();
export type Stats = z.infer<typeof Stats>;

export { Usage };
