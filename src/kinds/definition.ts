/**
 * Workflow definitions: the one zod schema behind flows/*.yaml, inline JSON workflows in
 * POST /v1/runs and POST /v1/workflows/validate, and the compiled form a run keeps.
 * Structural checks live here and in each kind's schema (src/kinds/<kind>/schema.ts); graph
 * checks (cycles, unknown ids, template references, agents) live in src/compile/, a kind's own
 * in its compile rule (src/kinds/<kind>/compile.ts).
 *
 * A step is a discriminated union on `kind`. A step without `kind` is an `agent` step, so
 * every definition written before kinds existed stays valid. Adding a kind: its name in
 * src/model/step-kind.ts, its folder (schema, compile rule, executor), and one line in each of
 * STEP_DEFINITIONS and COMPILED_STEPS (here), KIND_RULES (rules.ts) and createExecutors
 * (index.ts): the types make each one required.
 */
import { z } from 'zod';
import { DEFAULT_STEP_KIND, StepKind } from '../model/step-kind.js';
import { ScheduleSpec } from '../model/schedule.js';
import { Budget } from '../model/budget.js';
import { PatternFields } from '../model/pattern.js';
import { ContextConflict, StepId } from '../model/step.js';
import { AgentStepDefinition, CompiledAgentStep } from './agent/schema.js';
import { LoopStepDefinition, CompiledLoopStep } from './loop/schema.js';
import { ForEachStepDefinition, CompiledForEachStep } from './for-each/schema.js';
import { PlanStepDefinition, CompiledPlanStep } from './plan/schema.js';
import { ApprovalStepDefinition, Automation, CompiledApprovalStep } from './approval/schema.js';
import { VoteStepDefinition, CompiledVoteStep } from './vote/schema.js';
import { ConcatStepDefinition, CompiledConcatStep } from './concat/schema.js';
import { MergeStepDefinition, CompiledMergeStep } from './merge/schema.js';
import { SynthesizeStepDefinition, CompiledSynthesizeStep } from './synthesize/schema.js';
import { HttpStepDefinition, CompiledHttpStep } from './http/schema.js';

// The vocabulary every step shares lives on the ground floor; these are read from here too.
export { STEP_ID_PATTERN, StepId, RunStepId, StepInput, JoinPolicy, JoinWatch, ContextName, ContextConflict } from '../model/step.js';
export { DEFAULT_STEP_KIND, StepKind, Automation };

export const WorkflowName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, 'must be lowercase letters, digits, "_" or "-"');

/** Every step kind's definition schema, by kind. */
export const STEP_DEFINITIONS = {
  // In this order in the message naming the kinds (an unknown kind).
  synthesize: SynthesizeStepDefinition,
  merge: MergeStepDefinition,
  agent: AgentStepDefinition,
  loop: LoopStepDefinition,
  forEach: ForEachStepDefinition,
  plan: PlanStepDefinition,
  approval: ApprovalStepDefinition,
  vote: VoteStepDefinition,
  concat: ConcatStepDefinition,
  http: HttpStepDefinition,
} as const satisfies Record<StepKind, z.ZodType>;
// Every kind named on the ground floor has a schema here, and no other.
const _sameKinds: [keyof typeof STEP_DEFINITIONS] extends [StepKind] ? ([StepKind] extends [keyof typeof STEP_DEFINITIONS] ? true : never) : never = true;
void _sameKinds;

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
    HttpStepDefinition,
  ]),
);
export type StepDefinition = z.infer<typeof StepDefinition>;
export type StepDefinitionOf<K extends StepKind> = Extract<StepDefinition, { kind: K }>;
// The union holds every kind (a kind left out would have no definition, and its rule nothing to check).
const _definesAll: [StepKind] extends [StepDefinition['kind']] ? true : never = true;
void _definesAll;

/**
 * A collaboration pattern as a block (the same as POST /v1/runs {pattern, ...}): `id` prefixes
 * the ids of the steps it becomes (`<id>-t1`, ..., `<id>-aggregate`), `dependsOn` is added to
 * its first steps. See src/compile/patterns.ts.
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
    /** Declared input fields (a field may not be named `__proto__`: the compiler refuses it). */
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

/** Every step kind's compiled schema, by kind. */
export const COMPILED_STEPS = {
  agent: CompiledAgentStep,
  loop: CompiledLoopStep,
  forEach: CompiledForEachStep,
  plan: CompiledPlanStep,
  approval: CompiledApprovalStep,
  vote: CompiledVoteStep,
  concat: CompiledConcatStep,
  merge: CompiledMergeStep,
  synthesize: CompiledSynthesizeStep,
  http: CompiledHttpStep,
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
  CompiledHttpStep,
]);
export type CompiledStep = z.infer<typeof CompiledStep>;
export type CompiledStepOf<K extends StepKind> = Extract<CompiledStep, { kind: K }>;
const _compilesAll: [StepKind] extends [CompiledStep['kind']] ? true : never = true;
void _compilesAll;

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
