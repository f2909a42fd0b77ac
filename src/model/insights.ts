/**
 * What a workspace's runs teach, without training (seeds 000 and 002's learning from feedback):
 * GET /v1/insights. Per agent and per workflow: success rate, latency, cost and rating, each
 * over the window and in trend buckets; the most common failure reasons, classified; and plain
 * suggestions derived from them.
 */
import { z } from 'zod';

/** Why a step failed, in the classes code branches on (src/errors, src/calls/classify.ts). */
export const FailureReason = z.enum([
  /** The prompt with maxTokens did not fit the model's context window (ContextLengthError). */
  'context_length',
  /** The provider kept answering 429/529 until the step gave up. */
  'rate_limited',
  /** The provider account's quota or billing is spent (QuotaExhaustedError). */
  'quota_exhausted',
  /** The step ran past its timeoutMs (StepTimeoutError). */
  'timeout',
  /** The provider failed in a way worth retrying (5xx, connection) until the attempts ran out (RetryableError). */
  'provider_error',
  /** The provider refused the key (401/403). */
  'auth',
  /** The provider refused the request as such (another 4xx: unknown model, bad parameter). */
  'invalid_request',
  /** The answer did not fit the output schema, or the step's input did not render (ValidationError). */
  'invalid_output',
  /** A run's budget or a spend envelope stopped it (BudgetExceededError). */
  'budget',
  /** Its job ended without reporting (worker lost or stalled too often). */
  'worker_lost',
  /** Any other failure (a failed delegate, a tool, a not retryable error of its own). */
  'other',
]);
export type FailureReason = z.infer<typeof FailureReason>;

const rate = z.number().nullable().describe('from 0 to 1; null when nothing was counted');

export const FailureCount = z
  .object({ reason: FailureReason, count: z.number().int(), share: rate.describe('of the failed steps (or runs)'), example: z.string().nullable() })
  .strict();

export const Suggestion = z
  .object({
    /** The agent or workflow it is about. */
    agent: z.string().optional(),
    workflow: z.string().optional(),
    reason: FailureReason.optional(),
    /** Of what it is about (its calls or runs), the share concerned. */
    share: z.number(),
    text: z.string(),
  })
  .strict();
export type Suggestion = z.infer<typeof Suggestion>;

/** One trend bucket of an agent's steps or a workflow's runs created in [start, start + bucketMs). */
export const InsightBucket = z
  .object({
    start: z.string(),
    count: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    successRate: rate,
    /** Average time of the finished ones, ms; null: none finished. */
    averageMs: z.number().nullable(),
    costUsd: z.number(),
    /** Average rating of the feedback given (1 to 5); null: none. */
    rating: z.number().nullable(),
  })
  .strict();

/** Whether a measure went up, down or held between the first and the second half of the window; null: too little to tell. */
export const Direction = z.enum(['up', 'down', 'flat']).nullable();

const insightFields = {
  count: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  successRate: rate,
  averageMs: z.number().nullable(),
  costUsd: z.number(),
  rating: z.object({ average: z.number().nullable(), count: z.number().int() }).strict(),
  /** Between the window's halves. */
  trends: z.object({ successRate: Direction, averageMs: Direction, costUsd: Direction, rating: Direction }).strict(),
  failures: z.array(FailureCount),
  buckets: z.array(InsightBucket),
};

export const AgentInsight = z.object(insightFields).strict();
export type AgentInsight = z.infer<typeof AgentInsight>;
export const WorkflowInsight = z.object(insightFields).strict();
export type WorkflowInsight = z.infer<typeof WorkflowInsight>;

export const Insights = z
  .object({
    since: z.string(),
    until: z.string(),
    bucketMs: z.number().int(),
    /** Per agent: its steps (count: steps). */
    agents: z.record(z.string(), AgentInsight),
    /** Per workflow: its runs (count: runs). */
    workflows: z.record(z.string(), WorkflowInsight),
    /** The most telling first. */
    suggestions: z.array(Suggestion),
    scanned: z.number().int(),
    truncated: z.boolean(),
  })
  .strict();
export type Insights = z.infer<typeof Insights>;
