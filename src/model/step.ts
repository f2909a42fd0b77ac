/**
 * What every step has, whatever its kind: its id, its input's shape, how it joins its
 * dependencies, what it publishes, and the common fields of its definition and compiled
 * schemas. Each kind's own schema (src/kinds/<kind>/schema.ts) spreads these fields.
 */
import { z } from 'zod';
import { JsonObject } from './json.js';

/** Step ids become job-id parts (`${runId}.${stepId}`): letters, digits, `_` and `-` only. */
export const STEP_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const StepId = z.string().regex(STEP_ID_PATTERN, 'must start with a letter and contain only letters, digits, "_" or "-" (at most 64)');

/**
 * Ids of steps added while a run executes: `<parent>.<part>`, where each part is a step id
 * or a number. They never collide with the ids a definition may use (those have no dot).
 */
export const RunStepId = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}(\.[A-Za-z0-9][A-Za-z0-9_-]{0,63})*$/)
  .max(512);

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

/** Fields every step definition has, whatever its kind. */
export const STEP_FIELDS = {
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

/** Fields every compiled step has, whatever its kind. */
export const COMPILED_FIELDS = {
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

/** What a step's `publish` compiled to (`toContext.fields`): every field, these, or its whole output under one name. */
export type PublishFields = 'all' | string[] | { as: string };

/** Whether a step whose `publish` compiled to `fields` may publish `name` (its publish_context calls too). */
export function mayPublish(fields: PublishFields, name: string): boolean {
  if (!ContextName.safeParse(name).success) return false;
  return fields === 'all' || (Array.isArray(fields) ? fields.includes(name) : fields.as === name);
}
