/**
 * Workflow definitions: the one zod schema behind flows/*.yaml, inline JSON workflows in
 * POST /v1/runs and POST /v1/workflows/validate, and the compiled form a run keeps.
 * Structural checks live here; graph checks (cycles, unknown ids, template references,
 * agents) live in compile.ts, kind-specific ones in kinds.ts.
 *
 * A step is a discriminated union on `kind`. A step without `kind` is an `agent` step, so
 * every definition written before kinds existed stays valid. Adding a kind: its definition
 * schema in STEP_DEFINITIONS and its compiled schema in COMPILED_STEPS (here), its compile rule
 * (kinds.ts) and its executor (src/kinds/executors/). The types make the last two required.
 */
import { DEFAULT_STEP_KIND, StepKind } from '../model/step-kind.js';
import { z } from 'zod';
import { AgentName, OrchestrationOptions } from '../model/agent.js';
import { ScheduleSpec } from '../model/schedule.js';
import { JsonObject } from '../model/json.js';
import { OutputSpec } from '../model/output.js';
import { Budget } from '../model/budget.js';
import { PatternFields } from '../compile/patterns.js';
import { VoteCompare } from '../model/vote-compare.js';

/** Step ids become job-id parts (`${runId}.${stepId}`): letters, digits, `_` and `-` only. */
export const STEP_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const StepId = z.string().regex(STEP_ID_PATTERN, 'must start with a letter and contain only letters, digits, "_" or "-" (at most 64)');
export const WorkflowName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, 'must be lowercase letters, digits, "_" or "-"');

/** The input of an LLM step. Strings anywhere in it may hold templates `{{input.x}}`, `{{steps.id.output}}`. */
export const StepInput = z
  .object({
    task: z.string().min(1),
    context: JsonObject.optional(),
  })
  .strict();
export type StepInput = z.infer<typeof StepInput>;

/**
 * How a step with several dependencies joins them: `all` (the default: every one finishes, a
 * required one's failure fails the run), `any` (it starts at the first success; the others
 * are cancelled), `{quorum: k}` (it starts once k have succeeded; the others are cancelled), or
 * `bestEffort` (it waits for all, and goes on with whatever succeeded). Under any policy but
 * `all` its dependencies are optional: their failure does not fail the run.
 */
export const JoinPolicy = z.union([z.enum(['all', 'any', 'bestEffort']), z.object({ quorum: z.number().int().min(1) }).strict()]);
export type JoinPolicy = z.infer<typeof JoinPolicy>;

/**
 * Set on each step a join waits on early (`any`, `quorum`, a vote's `quorum`): when it ends,
 * the join is looked at, and once it is met, or can no longer be, the members still live are
 * cancelled. `need`: successes it needs; with `agree`, answers that agree (compared as a vote
 * compares them).
 */
export const JoinWatch = z.object({
  step: z.string(),
  label: z.enum(['any', 'quorum']),
  need: z.number().int().min(1),
  agree: z.object({ field: z.string().optional(), numberTolerance: z.number() }).optional(),
  members: z.array(z.string()),
  /** Per member: the steps upstream of it that feed nothing else (cancelled with it). */
  upstream: z.record(z.string(), z.array(z.string())).optional(),
});
export type JoinWatch = z.infer<typeof JoinWatch>;

/** A name in the run's shared context (`{{context.<name>}}`). */
export const ContextName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, 'must start with a letter or "_" and contain only letters, digits, "_" or "-" (at most 64)');

/** Which write of a name of the run's context wins (see WorkflowDefinition's `context`). */
export const ContextConflict = z.enum(['topological', 'authority']);

/** Fields every step has, whatever its kind. */
const stepFields = {
  id: StepId,
  /** Ids of steps whose completion this step waits for. */
  dependsOn: z.array(StepId).default([]),
  /** Safe expression over `input` and `steps`; false → the step ends `skipped`. */
  when: z.string().min(1).optional(),
  /** Overrides the timeoutMs of the step's agent (or the engine default) for this step. */
  timeoutMs: z.number().int().positive().optional(),
  /** Overrides the attempts of the step's agent (or the engine default) for this step. */
  attempts: z.number().int().min(1).max(100).optional(),
  /** A failure of an optional step lets the run go on; the run ends `partial_success`. */
  optional: z.boolean().default(false),
  /** Run even when a dependency was skipped (by default a dependent of a skipped step is skipped). */
  allowSkippedDeps: z.boolean().default(false),
  /** How its dependencies are joined (see JoinPolicy). */
  join: JoinPolicy.default('all'),
  /**
   * Publish its output into the run's shared context when it succeeds: these top-level fields
   * of a structured (JSON object) output, or `true`: every field of it (a text output that
   * holds no JSON object is published under the step's id), or `{as: <name>}`: the whole
   * output under that name. On an approval step, `publish`
   * is the gate's own (a publish gate, see Automation).
   */
  publish: z.union([z.literal(true), z.array(ContextName).min(1).max(100), z.object({ as: ContextName }).strict()]).optional(),
};

/** `kind: agent` (the default): one call to an agent type with a rendered input. */
export const AgentStepDefinition = z
  .object({
    ...stepFields,
    kind: z.literal('agent'),
    /** Agent type that runs the step. */
    agent: z.string().min(1),
    input: StepInput,
    /** Agents this step may delegate to, instead of the agent's own `delegates` (an empty list: none). */
    delegates: z.array(AgentName).optional(),
    /** Bounds of the delegation, over the agent's own. */
    orchestration: OrchestrationOptions.optional(),
    /** A structured answer for this step, instead of the agent's `output` (if any). */
    output: OutputSpec.optional(),
  })
  .strict();

/** An agent call inside a composite step (a loop's body or critic). */
const AgentCall = z.object({ agent: z.string().min(1), input: StepInput }).strict();

/**
 * `kind: loop`: work that refines itself until a critic approves. Each iteration is a draft by
 * `body.agent` (from the second on, with the previous draft and the critic's feedback in its
 * context), then a critique by `critic.agent`, whose answer is a structured verdict
 * `{approved, score?, feedback}`. It ends when the verdict approves, when `until` (an
 * expression over `verdict` and `iteration`) holds, or after `maxIterations`.
 */
export const LoopStepDefinition = z
  .object({
    ...stepFields,
    kind: z.literal('loop'),
    body: AgentCall,
    /** Without `input`, the critic is asked to review the draft against the body's task. */
    critic: z.object({ agent: z.string().min(1), input: StepInput.optional() }).strict(),
    until: z.string().min(1).optional(),
    maxIterations: z.number().int().min(1).max(20).default(3),
  })
  .strict();

/**
 * `kind: forEach`: one step per item of a list taken from an earlier output or the input
 * (`items`, one template), run on `step.agent` with `{{item}}` and `{{index}}` in its input.
 * Outputs come back in item order.
 */
export const ForEachStepDefinition = z
  .object({
    ...stepFields,
    kind: z.literal('forEach'),
    /** One template giving a list, e.g. `{{steps.find.output.companies}}` or `{{input.items}}`. */
    items: z.string().min(1),
    /** The step run for each item; its input may also read `{{item}}` (and its fields) and `{{index}}`. */
    step: z.object({ agent: z.string().min(1), input: StepInput, output: OutputSpec.optional() }).strict(),
    /** Most items; beyond it the step fails, or takes the first `maxItems` with `truncate: true`. */
    maxItems: z.number().int().min(1).max(1000).default(100),
    truncate: z.boolean().default(false),
    /** At most this many items running at once (default: all). */
    concurrency: z.number().int().min(1).max(1000).optional(),
    /** An empty list ends the whole run early, `succeeded` (instead of skipping this step). */
    stopWhenEmpty: z.boolean().default(false),
  })
  .strict();

/**
 * `kind: plan`: a planner agent answers with a plan (steps with agents, tasks and
 * dependencies), which is checked by the workflow compiler and run as a sub-DAG of the run.
 */
export const PlanStepDefinition = z
  .object({
    ...stepFields,
    kind: z.literal('plan'),
    /** The planner agent. */
    agent: z.string().min(1),
    input: StepInput,
    /** Agents the plan may use (default: every agent but the planner). */
    agents: z.array(AgentName).min(1).optional(),
    /** Most steps in the plan. */
    maxSteps: z.number().int().min(1).max(100).default(10),
  })
  .strict();

/** Which approval gates wait for a human (seed 002's automation modes), per workflow. */
export const Automation = z.enum(['full_autonomous', 'assisted', 'manual', 'hybrid']);
export type Automation = z.infer<typeof Automation>;

/**
 * `kind: approval`: a gate that waits, without a worker slot, until someone approves or rejects
 * it over the API, or until `timeoutMs` (then `onTimeout` applies). The workflow's `automation`
 * decides which gates wait (see Automation).
 */
export const ApprovalStepDefinition = z
  .object({
    ...stepFields,
    kind: z.literal('approval'),
    /** What the approver is asked and shown (templates allowed), e.g. the draft to publish. */
    input: StepInput.optional(),
    /** A gate that waits this long decides by itself (`timeoutMs` of the common fields). */
    onTimeout: z.enum(['approve', 'reject']).default('reject'),
    /**
     * A rejection fails the step (and the run, unless optional), skips it (and what needs it),
     * or sends the comment back to the `review` step as feedback: a revision runs, and the gate
     * waits for a decision on it (at most `maxRevisions` times, then a rejection fails).
     */
    onReject: z.enum(['fail', 'skip', 'revise']).default('fail'),
    /** The agent step under review (an ancestor of the gate): what `revise` revises. */
    review: StepId.optional(),
    maxRevisions: z.number().int().min(1).max(10).default(2),
    /** Under `assisted` automation, only gates marked publish wait. */
    publish: z.boolean().default(false),
    /** Under `hybrid` automation, the gate waits when one of these expressions is true. */
    rules: z.array(z.string().min(1)).default([]),
  })
  .strict();

/**
 * `kind: vote`: consensus. The same question to several agents (each a child step whose answer
 * is structured `{answer, confidence, rationale}`), the answers normalised and grouped, each
 * weighted by confidence × the agent's `authority`; `consensus` when the winning group's
 * share of the weight is at least `minAgreement`. Or, with `of`, a vote over the outputs of
 * steps that ran already (seed 001's hierarchical `vote` aggregation): each output is a vote
 * (a structured `{answer, confidence}`, or any other output as the answer, confidence 1).
 */
export const VoteStepDefinition = z
  .object({
    ...stepFields,
    kind: z.literal('vote'),
    question: StepInput.optional(),
    /** Who answers: each an agent, optionally with its own task (default: the question's). */
    voters: z
      .array(z.object({ agent: z.string().min(1), task: z.string().min(1).optional() }).strict())
      .min(2)
      .max(50)
      .optional(),
    /** Instead of question and voters: the steps whose outputs are the votes (each an ancestor). */
    of: z.array(StepId).min(2).max(100).optional(),
    minAgreement: z.number().gt(0).max(1).default(0.5),
    compare: VoteCompare.optional(),
    /**
     * End the vote as soon as this many answers agree, or as soon as no answer can reach it:
     * the voters still answering are cancelled (their calls aborted, never paid).
     */
    quorum: z.number().int().min(2).optional(),
  })
  .strict();

/** `kind: concat`: the outputs of steps, in order, labelled by step (text), as a list with each one's status, or the first that succeeded. */
export const ConcatStepDefinition = z
  .object({
    ...stepFields,
    kind: z.literal('concat'),
    /** The steps, in order (default: its `dependsOn`). */
    of: z.array(StepId).min(1).optional(),
    /** `first`: the output of the first of them that succeeded (null when none did). */
    as: z.enum(['text', 'list', 'first']).default('text'),
  })
  .strict();

/**
 * `kind: merge`: a deep merge of the JSON object outputs of steps; where they disagree (a
 * scalar or a list with different values) the step first in `priority` wins, and every
 * conflict is listed.
 */
export const MergeStepDefinition = z
  .object({
    ...stepFields,
    kind: z.literal('merge'),
    /** The steps whose outputs are merged (default: its `dependsOn`). */
    of: z.array(StepId).min(1).optional(),
    /** Who wins a conflict, first first (default: the order of `of`). */
    priority: z.array(StepId).optional(),
  })
  .strict();

/**
 * `kind: synthesize`: an agent step that receives the outputs of the steps it names (by step
 * id, in its context as `inputs`) beside its own input: the LLM aggregation.
 */
export const SynthesizeStepDefinition = z
  .object({
    ...stepFields,
    kind: z.literal('synthesize'),
    agent: z.string().min(1),
    input: StepInput,
    /** The steps whose outputs it receives (default: its `dependsOn`). */
    of: z.array(StepId).min(1).optional(),
  })
  .strict();

/** Every step kind's definition schema, by kind. */
export const STEP_DEFINITIONS = {
  synthesize: SynthesizeStepDefinition,
  merge: MergeStepDefinition,
  agent: AgentStepDefinition,
  loop: LoopStepDefinition,
  forEach: ForEachStepDefinition,
  plan: PlanStepDefinition,
  approval: ApprovalStepDefinition,
  vote: VoteStepDefinition,
  concat: ConcatStepDefinition,
} as const satisfies Record<StepKind, z.ZodType>;
// Every kind named on the ground floor has a schema here, and no other.
const _sameKinds: [keyof typeof STEP_DEFINITIONS] extends [StepKind] ? ([StepKind] extends [keyof typeof STEP_DEFINITIONS] ? true : never) : never = true;
void _sameKinds;
export { DEFAULT_STEP_KIND, StepKind };

const withDefaultKind = (v: unknown): unknown =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !('kind' in v) ? { ...v, kind: DEFAULT_STEP_KIND } : v;

export const StepDefinition = z.preprocess(
  withDefaultKind,
  z.discriminatedUnion('kind', [
    AgentStepDefinition,
    LoopStepDefinition,
    ForEachStepDefinition,
    PlanStepDefinition,
    ApprovalStepDefinition,
    VoteStepDefinition,
    ConcatStepDefinition,
    MergeStepDefinition,
    SynthesizeStepDefinition,
  ]),
);
export type StepDefinition = z.infer<typeof StepDefinition>;
export type StepDefinitionOf<K extends StepKind> = Extract<StepDefinition, { kind: K }>;

/**
 * A collaboration pattern as a block (the same as POST /v1/runs {pattern, ...}): `id` prefixes
 * the ids of the steps it becomes (`<id>-t1`, ..., `<id>-aggregate`), `dependsOn` is added to
 * its first steps. See patterns.ts.
 */
const patternBlockFields = {
  id: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,49}$/, 'must start with a letter and contain only letters, digits, "_" or "-" (at most 50)'),
  dependsOn: z.array(StepId).default([]),
};
export const PatternBlock = z.discriminatedUnion('pattern', [
  z.object({ ...PatternFields.sequential, ...patternBlockFields }).strict(),
  z.object({ ...PatternFields.parallel, ...patternBlockFields }).strict(),
  z.object({ ...PatternFields.hierarchical, ...patternBlockFields }).strict(),
  z.object({ ...PatternFields.consensus, ...patternBlockFields }).strict(),
]);
export type PatternBlock = z.infer<typeof PatternBlock>;

/**
 * A step, or sugar: `sequential` chains its items; `parallel` runs them side by side. A
 * `parallel` block of agent steps may run `rounds` (multi-round agents, seed 003's parallel
 * execution with synchronization): each item runs once per round as `<id>-r<round>`, given its
 * own previous answer; every `syncEvery` rounds (default 1) the block synchronises: the next
 * round starts once every item has finished the round, and each is given the others' answers
 * of that round. Every round's answer is published into the run's context under the item's id.
 */
export type Block = StepDefinition | { sequential: Block[] } | { parallel: Block[]; rounds?: number; syncEvery?: number } | PatternBlock;
export const Block: z.ZodType<Block, unknown> = z.lazy(() =>
  z.union([
    z.object({ sequential: z.array(Block).min(1) }).strict(),
    z
      .object({ parallel: z.array(Block).min(1), rounds: z.number().int().min(1).max(20).optional(), syncEvery: z.number().int().min(1).max(20).optional() })
      .strict(),
    PatternBlock,
    StepDefinition,
  ]),
);

export const InputField = z
  .object({
    type: z.enum(['string', 'number', 'boolean', 'object', 'array']).default('string'),
    required: z.boolean().default(true),
    description: z.string().optional(),
    default: z.unknown().optional(),
  })
  .strict();
export type InputField = z.infer<typeof InputField>;

export const WorkflowDefinition = z
  .object({
    name: WorkflowName,
    description: z.string().default(''),
    /** Declared input fields (a field may not be named `__proto__`: compile.ts refuses it). */
    input: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), InputField).default({}),
    steps: z.array(Block).min(1),
    /** Steps whose outputs form the run's output. Default: the steps nothing depends on. */
    output: z.array(StepId).min(1).optional(),
    schedule: ScheduleSpec.optional(),
    /** Which approval gates wait: all (manual, the default), none (full_autonomous), those marked publish (assisted), those whose rules ask (hybrid). */
    automation: Automation.default('manual'),
    /** What each run may spend (a request's `budget` replaces it). */
    budget: Budget.optional(),
    /**
     * The run's shared context: when two steps publish the same name, the one later in the
     * workflow's topological order wins (`topological`, the default), or the one whose agent
     * has the higher `authority` (`authority`; equal authorities: the later one). Never the
     * one that happened to finish last.
     */
    context: z
      .object({ conflict: ContextConflict.default('topological') })
      .strict()
      .optional(),
  })
  .strict();
export type WorkflowDefinition = z.infer<typeof WorkflowDefinition>;

// ---------------------------------------------------------------------------------------
// The compiled form: what a run executes and keeps (GET /v1/runs/:id?include=definition).

/**
 * Ids of steps added while a run executes: `<parent>.<part>`, where each part is a step id
 * or a number. They never collide with the ids a definition may use (those have no dot).
 */
export const RunStepId = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}(\.[A-Za-z0-9][A-Za-z0-9_-]{0,63})*$/)
  .max(512);

/** Fields every compiled step has, whatever its kind. */
const compiledFields = {
  id: RunStepId,
  /** Direct dependencies (explicit `dependsOn` plus those implied by sugar), sorted. */
  dependsOn: z.array(RunStepId),
  when: z.string().optional(),
  timeoutMs: z.number().int().positive().optional(),
  attempts: z.number().int().min(1).max(100).optional(),
  optional: z.boolean(),
  allowSkippedDeps: z.boolean(),
  /** Steps whose status or output the step's templates and `when` read (sorted). */
  reads: z.array(RunStepId),
  /**
   * The agent type whose pool runs the step (its queue, concurrency, limits and retry policy
   * apply). Absent for steps the engine runs itself on its internal queue.
   */
  agent: z.string().optional(),
  /** In a rerun: the output this step recorded in the run it reruns, used as it is (no work done). */
  reuse: z.object({ runId: z.string(), output: z.unknown(), input: z.unknown().optional() }).optional(),
  /** Its join policy, when not `all`. */
  join: z.union([z.enum(['any', 'bestEffort']), z.object({ quorum: z.number().int().min(1) })]).optional(),
  /** The joins that wait on this step early (see JoinWatch). */
  joinOf: z.array(JoinWatch).optional(),
  /**
   * What it publishes into the run's context: its output's `fields` (or all of them); `order`:
   * its place in the topological order, and `byAuthority`: whether its agent's authority ranks first.
   */
  toContext: z
    .object({
      fields: z.union([z.literal('all'), z.array(z.string()), z.object({ as: z.string() })]),
      order: z.number().int().nonnegative(),
      byAuthority: z.boolean(),
    })
    .optional(),
  /** The context names its templates read. */
  readsContext: z.array(z.string()).optional(),
};

export const CompiledAgentStep = z.object({
  ...compiledFields,
  kind: z.literal('agent'),
  agent: z.string(),
  input: StepInput,
  /** The input is used verbatim, without template rendering (single-agent tasks). */
  literal: z.boolean().optional(),
  delegates: z.array(z.string()).optional(),
  orchestration: OrchestrationOptions.optional(),
  /** JSON Schema of a structured answer (the step's `output.schema`). */
  outputSchema: JsonObject.optional(),
  /** Its dependencies' outputs go into its context as `dependencies: {<id>: output}` (steps of a plan). */
  dependencyOutputs: z.boolean().optional(),
  /**
   * Set on a step an orchestrator added for a tool call: how many delegations deep it is, and
   * the deepest the delegation tree it belongs to may go.
   */
  delegation: z.object({ depth: z.number().int().min(1), maxDepth: z.number().int().min(1) }).optional(),
  /** In a rerun from this step: the feedback, and what the step answered before, added to its context. */
  feedback: z.object({ text: z.string(), previousOutput: z.unknown() }).optional(),
});

export const CompiledLoopStep = z.object({
  ...compiledFields,
  kind: z.literal('loop'),
  body: z.object({ agent: z.string(), input: StepInput }),
  critic: z.object({ agent: z.string(), input: StepInput.optional() }),
  until: z.string().optional(),
  maxIterations: z.number().int().min(1).max(20),
});

export const CompiledForEachStep = z.object({
  ...compiledFields,
  kind: z.literal('forEach'),
  items: z.string(),
  step: z.object({ agent: z.string(), input: StepInput, outputSchema: JsonObject.optional() }),
  maxItems: z.number().int().min(1).max(1000),
  truncate: z.boolean(),
  concurrency: z.number().int().min(1).optional(),
  stopWhenEmpty: z.boolean(),
});

export const CompiledPlanStep = z.object({
  ...compiledFields,
  kind: z.literal('plan'),
  agent: z.string(),
  input: StepInput,
  agents: z.array(z.string()).optional(),
  maxSteps: z.number().int().min(1).max(100),
});

export const CompiledApprovalStep = z.object({
  ...compiledFields,
  kind: z.literal('approval'),
  input: StepInput.optional(),
  onTimeout: z.enum(['approve', 'reject']),
  onReject: z.enum(['fail', 'skip', 'revise']),
  /** The step under review, and what a revision of it runs (its agent; its input is the one it ran with). */
  review: z.object({ stepId: z.string(), agent: z.string() }).optional(),
  maxRevisions: z.number().int().min(1).max(10),
  publish: z.boolean(),
  rules: z.array(z.string()),
  /** The workflow's automation mode, which decides whether this gate waits. */
  automation: Automation,
});

export const CompiledVoteStep = z.object({
  ...compiledFields,
  kind: z.literal('vote'),
  question: StepInput.optional(),
  /** Empty with `of`. */
  voters: z.array(z.object({ agent: z.string(), task: z.string().optional() })),
  of: z.array(z.string()).optional(),
  minAgreement: z.number(),
  compare: z.object({ field: z.string().optional(), numberTolerance: z.number() }).optional(),
  quorum: z.number().int().optional(),
});

export const CompiledConcatStep = z.object({
  ...compiledFields,
  kind: z.literal('concat'),
  of: z.array(z.string()),
  as: z.enum(['text', 'list', 'first']),
});

export const CompiledMergeStep = z.object({
  ...compiledFields,
  kind: z.literal('merge'),
  of: z.array(z.string()),
  /** Conflict order: every step of `of`, the winner first. */
  priority: z.array(z.string()),
});

export const CompiledSynthesizeStep = z.object({
  ...compiledFields,
  kind: z.literal('synthesize'),
  agent: z.string(),
  input: StepInput,
  of: z.array(z.string()),
});

/** Every step kind's compiled schema, by kind. */
export const COMPILED_STEPS = {
  synthesize: CompiledSynthesizeStep,
  merge: CompiledMergeStep,
  agent: CompiledAgentStep,
  loop: CompiledLoopStep,
  forEach: CompiledForEachStep,
  plan: CompiledPlanStep,
  approval: CompiledApprovalStep,
  vote: CompiledVoteStep,
  concat: CompiledConcatStep,
} as const satisfies { [K in StepKind]: z.ZodType };
export const CompiledStep = z.discriminatedUnion('kind', [
  CompiledAgentStep,
  CompiledLoopStep,
  CompiledForEachStep,
  CompiledPlanStep,
  CompiledApprovalStep,
  CompiledVoteStep,
  CompiledConcatStep,
  CompiledMergeStep,
  CompiledSynthesizeStep,
]);
export type CompiledStep = z.infer<typeof CompiledStep>;
export type CompiledStepOf<K extends StepKind> = Extract<CompiledStep, { kind: K }>;

/** A validated workflow, ready to run. `steps` are in a topological order. */
export const CompiledWorkflow = z.object({
  name: z.string(),
  description: z.string(),
  input: z.record(z.string(), InputField),
  steps: z.array(CompiledStep),
  /** Step ids whose outputs form the run output. */
  output: z.array(z.string()),
  schedule: ScheduleSpec.optional(),
  automation: Automation.optional(),
  budget: Budget.optional(),
  context: z.object({ conflict: ContextConflict }).optional(),
  /** Where it came from: a file path, "inline", or "agent" (a single-agent task). */
  source: z.string(),
});
export type CompiledWorkflow = z.infer<typeof CompiledWorkflow>;
