/**
 * Workflow definitions: the one zod schema behind flows/*.yaml, inline JSON workflows in
 * POST /v1/runs and POST /v1/workflows/validate. Structural checks live here; graph checks
 * (cycles, unknown ids, template references, agents) live in compile.ts.
 */
import { z } from 'zod';

/** Step ids become job-id parts (`${runId}.${stepId}`): letters, digits, `_` and `-` only. */
export const STEP_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const StepId = z.string().regex(STEP_ID_PATTERN, 'must start with a letter and contain only letters, digits, "_" or "-" (at most 64)');
export const WorkflowName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, 'must be lowercase letters, digits, "_" or "-"');

/** The input of an LLM step. Strings anywhere in it may hold templates `{{input.x}}`, `{{steps.id.output}}`. */
export const StepInput = z
  .object({
    task: z.string().min(1),
    context: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type StepInput = z.infer<typeof StepInput>;

export const StepDefinition = z
  .object({
    id: StepId,
    /** Agent type that runs the step. */
    agent: z.string().min(1),
    input: StepInput,
    /** Ids of steps whose completion this step waits for. */
    dependsOn: z.array(StepId).default([]),
    /** Safe expression over `input` and `steps`; false → the step ends `skipped`. */
    when: z.string().min(1).optional(),
    /** Overrides the agent's timeoutMs for this step. */
    timeoutMs: z.number().int().positive().optional(),
    /** Overrides the agent's attempts for this step. */
    attempts: z.number().int().min(1).max(100).optional(),
    /** A failure of an optional step lets the run go on; the run ends `partial_success`. */
    optional: z.boolean().default(false),
    /** Run even when a dependency was skipped (by default a dependent of a skipped step is skipped). */
    allowSkippedDeps: z.boolean().default(false),
  })
  .strict();
export type StepDefinition = z.infer<typeof StepDefinition>;

/** A step, or sugar: `sequential` chains its items; `parallel` runs them side by side. */
export type Block = StepDefinition | { sequential: Block[] } | { parallel: Block[] };
export const Block: z.ZodType<Block, unknown> = z.lazy(() =>
  z.union([
    z.object({ sequential: z.array(Block).min(1) }).strict(),
    z.object({ parallel: z.array(Block).min(1) }).strict(),
    StepDefinition,
  ]),
) as z.ZodType<Block, unknown>;

export const InputField = z
  .object({
    type: z.enum(['string', 'number', 'boolean', 'object', 'array']).default('string'),
    required: z.boolean().default(true),
    description: z.string().optional(),
    default: z.unknown().optional(),
  })
  .strict();
export type InputField = z.infer<typeof InputField>;

export const ScheduleSpec = z
  .object({
    /** Cron pattern (5 or 6 fields). */
    cron: z.string().min(1),
    /** IANA time zone, e.g. Europe/Paris. Default UTC. */
    tz: z.string().optional(),
    /** Input of each scheduled run. */
    input: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type ScheduleSpec = z.infer<typeof ScheduleSpec>;

export const WorkflowDefinition = z
  .object({
    name: WorkflowName,
    description: z.string().default(''),
    input: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), InputField).default({}),
    steps: z.array(Block).min(1),
    /** Steps whose outputs form the run's output. Default: the steps nothing depends on. */
    output: z.array(StepId).min(1).optional(),
    schedule: ScheduleSpec.optional(),
  })
  .strict();
export type WorkflowDefinition = z.infer<typeof WorkflowDefinition>;

/** A step after sugar expansion and validation. */
export interface CompiledStep {
  id: string;
  agent: string;
  input: StepInput;
  /** Direct dependencies (explicit `dependsOn` plus those implied by sugar), sorted. */
  dependsOn: string[];
  when?: string;
  timeoutMs?: number;
  attempts?: number;
  optional: boolean;
  allowSkippedDeps: boolean;
  /** The input is used verbatim, without template rendering (single-agent tasks). */
  literal?: boolean;
  /** Steps whose status or output the templates and `when` read (sorted). */
  reads: string[];
}

/** A validated workflow, ready to run. `steps` are in a topological order. */
export interface CompiledWorkflow {
  name: string;
  description: string;
  input: Record<string, InputField>;
  steps: CompiledStep[];
  /** Step ids whose outputs form the run output. */
  output: string[];
  schedule?: ScheduleSpec;
  /** Where it came from: a file path, or "inline". */
  source: string;
}
