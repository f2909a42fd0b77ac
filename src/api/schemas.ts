/**
 * The HTTP API's request schemas: the single source of truth for validation, for GET
 * /openapi.json and for the typed client. The answers' schemas are in responses.ts.
 */
import { z } from 'zod';
import { Budget, RunListInclude, RunStatus, StepFeedback } from '../model/run.js';
import { RunStepId, StepId, StepInput } from '../kinds/definition.js';
import { JsonObject } from '../model/json.js';
import { CapabilityName, RoutingConstraints } from '../model/routing.js';
import { RunWebhook } from '../model/webhook.js';
import { PatternFields, patternProblem } from '../compile/patterns.js';

const common = {
  /** A repeated submission with the same key returns the same run. */
  idempotencyKey: z.string().min(1, 'must not be empty (omit it for none)').max(200).regex(/^\S*$/, 'must not contain spaces').optional(),
  /** BullMQ priority: 1 is the highest; omit for normal (FIFO) order. */
  priority: z.number().int().min(1).max(2_097_152).optional(),
  /** What the run may spend: past a limit it halts as budget_exceeded. */
  budget: Budget.optional(),
  /** Where to POST the run's events (docs/webhooks.md); its secret is sealed, never shown again. */
  webhook: RunWebhook.optional(),
};

/** A workflow step's input, with the API's own message for an empty task. */
export const AgentTaskInput = StepInput.extend({ task: z.string().min(1, 'must not be empty') });

export const SubmitAgentRun = z.object({ agent: z.string().min(1), input: AgentTaskInput, ...common }).strict();
/** POST /v1/runs naming a capability: one of the agents that declare it is chosen (src/submit/routing.ts). */
export const SubmitCapabilityRun = z
  .object({
    capability: CapabilityName,
    input: AgentTaskInput,
    /** Limits on the chosen agent's estimates (an agent without the estimate is excluded). */
    constraints: RoutingConstraints.optional(),
    ...common,
  })
  .strict();
export const SubmitWorkflowRun = z
  .object({
    workflow: z.union([z.string().min(1), JsonObject]),
    input: JsonObject.default({}),
    ...common,
  })
  .strict();

/** POST /v1/runs with a collaboration pattern (src/compile/patterns.ts). */
export const SubmitPatternRun = z
  .discriminatedUnion('pattern', [
    z.object({ ...PatternFields.sequential, ...common }).strict(),
    z.object({ ...PatternFields.parallel, ...common }).strict(),
    z.object({ ...PatternFields.hierarchical, ...common }).strict(),
    z.object({ ...PatternFields.consensus, ...common }).strict(),
  ])
  .superRefine((r, ctx) => {
    const problem = patternProblem(r);
    if (problem) ctx.addIssue({ code: 'custom', path: [problem.path], message: problem.message });
  });

/** POST /v1/chat/multi (seed 004): one message to several agents. */
export const ChatMulti = z
  .object({
    message: z.string().min(1),
    agents: z.array(z.string().min(1)).min(1).max(50),
    mode: z.enum(['parallel', 'sequential', 'orchestrated']).default('parallel'),
    ...common,
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.mode === 'orchestrated' && r.agents.length < 2)
      ctx.addIssue({ code: 'custom', path: ['agents'], message: 'mode orchestrated needs the leader (first) and at least one agent it may delegate to' });
  });

/** POST /v1/runs: one agent on a task, a workflow (by name or inline), or a collaboration pattern. */
export const SubmitRun = z.union([SubmitAgentRun, SubmitCapabilityRun, SubmitWorkflowRun, SubmitPatternRun]);
export type SubmitRun = z.infer<typeof SubmitRun>;
/** What a client sends to POST /v1/runs (defaults not yet applied). */
export type SubmitRunInput = z.input<typeof SubmitRun>;

/** A run id as the API hands them out (`run_` + lowercase letters and digits). */
export const RunId = z.string().regex(/^run_[0-9a-z]{1,40}$/);

/** A step id in a path (a definition's step, or one added while the run executes). */
export const RunStepIdParam = RunStepId;

/** POST /v1/runs/:id/rerun. */
export const RerunBody = z
  .object({
    /** The step of the run's workflow to rerun from (it and everything downstream runs again). */
    fromStep: StepId,
    /** A new run input (checked against the workflow's fields); default: the run's own. */
    input: JsonObject.optional(),
    /** Given to `fromStep` in its context, with its previous answer. */
    feedback: z.string().min(1).max(20_000).optional(),
  })
  .strict();

/** POST /v1/runs/:id/steps/:stepId/approve | reject. */
/** POST /v1/runs/:id/steps/:stepId/feedback (seed 002's TaskFeedback). */
export const FeedbackBody = StepFeedback.omit({ at: true }).strict();

export const GateDecisionBody = z
  .object({
    /** Who decides (free text, e.g. an e-mail); default "api". */
    by: z.string().min(1).max(200).optional(),
    comment: z.string().max(4000).optional(),
  })
  .strict();

/** `?include=a,b`: a comma list, each item one of `item`'s values (none by default). */
const includeOf = <T extends z.ZodType<string, string>>(item: T) =>
  z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item));

/** What GET /v1/runs/:id may add to a run: `definition`, the compiled workflow it executes. */
export const GetRunQuery = z.object({ include: includeOf(z.enum(['definition'])) }).strict();

/** What GET /v1/agents may add: `prompts`, each agent's system prompt. */
export const AgentsQuery = z.object({ include: includeOf(z.enum(['prompts'])) }).strict();
/** GET /v1/agents: `capability` lists only the agents that declare it (the candidates of a run or delegation that names it). */
export const AgentListQuery = AgentsQuery.extend({ capability: CapabilityName.optional() }).strict();

/**
 * POST /v1/agents: `name`, `apiKey` (optional, stored sealed) and the agent's fields as in the
 * agents file (AgentSpec, checked by the service: src/agents/workspace-agents.ts).
 */
export const AgentBody = z.looseObject({ name: z.string(), apiKey: z.string().optional() });
/** PATCH /v1/agents/:name: the fields to change (`null` removes one; `apiKey: null` removes the key). */
export const AgentChanges = z.looseObject({ apiKey: z.string().nullable().optional() });
/** POST /v1/agents/:name/test. */
export const AgentTestBody = z.object({ prompt: z.string().min(1).max(100_000) }).strict();

/** GET /v1/runs/:id/events: `after`, an event id (also sent as Last-Event-ID), checked by the route (400). */
export const EventsQuery = z.object({ after: z.string().optional() }).strict();

/** An event id (its position in the run's log, from 1), as in Last-Event-ID or ?after=; 0 is before the first. */
export const EventId = z
  .string()
  .regex(/^\d{1,15}$/, 'must be an event id: a whole number (the position of an event in the run, from 1) below 10^15')
  .transform(Number);

export const ListRunsQuery = z
  .object({
    /** Comma list: `input`, `output` (a page lists run summaries without them by default). */
    include: includeOf(RunListInclude),
    status: RunStatus.optional(),
    workflow: z.string().min(1).optional(),
    agent: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(20),
    cursor: z.string().min(1).optional(),
  })
  .strict();

/** GET /v1/stats. */
export const StatsQuery = z
  .object({
    /** ISO 8601 times (default: the 24 hours up to now). */
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    agent: z.string().min(1).max(100).optional(),
    workflow: z.string().min(1).max(200).optional(),
    /** Trend buckets (default: hours for a window of up to 48 hours, else days). */
    bucket: z.enum(['hour', 'day']).optional(),
  })
  .strict();

/** A limiter scope as GET /v1/limits names it (`openai/gpt-4o`, `anthropic#<key hash>/claude-x`, `@agent`), URL-encoded in a path. */
export const LimitScopeParam = z
  .string()
  .min(1)
  .max(300)
  .regex(
    /^[^\s\p{Cc}]+$/u, // \p{Cc}: control characters
    'must be a limiter scope as GET /v1/limits names it, without spaces (e.g. "openai/gpt-4o", URL-encoded in the path: openai%2Fgpt-4o)',
  );
