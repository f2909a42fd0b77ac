/**
 * The seam between the workflow compiler and a step kind: what the compiler cannot know
 * generically. The compiler (src/compile/) handles ids, dependencies, sugar, cycles, `when`
 * and the templates a rule points it at; a kind's rule (src/kinds/<kind>/compile.ts) checks
 * the kind's own fields and produces its compiled fields.
 */
import type { OrchestrationOptions } from '../model/agent.js';
import type { Automation, CompiledStepOf, StepDefinition, StepDefinitionOf, StepKind } from './definition.js';

export interface CompileContext {
  /** Agent types a step may name. */
  agents: readonly string[];
  /** Where the step sits in the document, e.g. `steps[1].parallel[0]`. */
  path: string;
  /** Report a problem at `path` (absolute, e.g. `${ctx.path}.agent`). */
  issue(path: string, message: string): void;
  /** For a definition a request brings: the most orchestration it may ask for (see RequestCaps). */
  caps?: RequestCaps | undefined;
}

/** What the agents file says of an agent that bears on orchestration. */
export interface AgentOrchestration {
  orchestration?: OrchestrationOptions | undefined;
  delegates?: readonly string[] | undefined;
}

/**
 * What a request may set on a step's `orchestration`: at most the server's maxima
 * (SWITCHYARD_MAX_ORCHESTRATOR_TURNS, _DELEGATIONS, _DELEGATION_DEPTH), and never more than
 * the agent's own setting where its agents file entry declares one. An orchestrator step of a
 * request runs with these maxima whatever it sets (see cappedOrchestration, agent/compile.ts).
 */
export interface RequestCaps {
  maxTurns: number;
  maxDelegations: number;
  maxDepth: number;
  /** Highest `maxItems` of a forEach (SWITCHYARD_MAX_FOREACH_ITEMS). */
  maxForEachItems: number;
  /** Highest `maxIterations` of a loop (SWITCHYARD_MAX_LOOP_ITERATIONS). */
  maxLoopIterations: number;
  /** The agent as the agents file declares it (undefined: no such agent). */
  agent(name: string): AgentOrchestration | undefined;
}

/** The fields every compiled step has; a rule produces the rest. */
type GenericCompiledField =
  'id' | 'dependsOn' | 'when' | 'timeoutMs' | 'attempts' | 'optional' | 'allowSkippedDeps' | 'reads' | 'join' | 'joinOf' | 'toContext' | 'readsContext';

/** What a rule's `compile` may know of the workflow besides the step. */
export interface WorkflowFacts {
  automation: Automation;
  step(id: string): StepDefinition | undefined;
  caps?: RequestCaps | undefined;
}

export interface KindRule<K extends StepKind> {
  /**
   * Values whose strings may hold templates, with their path below the step (e.g. `input`),
   * and the names the kind provides there besides input and steps (forEach: item, index).
   */
  templated(def: StepDefinitionOf<K>): { at: string; value: unknown; vars?: readonly string[] }[];
  /** Steps the kind reads besides those its templates and expressions name (each must be an ancestor). */
  reads?(def: StepDefinitionOf<K>): { at: string; stepId: string }[];
  /** Checks against the other steps of the workflow (once every id is known). */
  crossCheck?(def: StepDefinitionOf<K>, ctx: CompileContext & { step(id: string): StepDefinition | undefined }): void;
  /** Expressions of the kind (in the `when` language), with the names they may read besides input and steps. */
  expressions?(def: StepDefinitionOf<K>): { at: string; expr: string; vars: readonly string[] }[];
  /** The kind's own checks. */
  check(def: StepDefinitionOf<K>, ctx: CompileContext): void;
  /**
   * The values of a compiled step that are rendered into text (each bounded by
   * SWITCHYARD_MAX_RENDERED_BYTES; measured at submit as far as the run input tells).
   */
  rendered(step: CompiledStepOf<K>): { at: string; value: unknown }[];
  /** The `output.schema`s the kind declares, with their path below the step (bounded and compiled: src/compile/output-schemas.ts). */
  schemas(def: StepDefinitionOf<K>): { at: string; schema: Record<string, unknown> }[];
  /** The kind's own compiled fields (with `kind`, and `agent` when an agent's pool runs it). */
  compile(def: StepDefinitionOf<K>, workflow: WorkflowFacts): Omit<CompiledStepOf<K>, GenericCompiledField>;
}

const listOr = (items: readonly string[], none: string): string => (items.length ? items.join(', ') : none);

/** Report `name` at `at` (below the step) unless it is a known agent. */
export function checkAgent(ctx: CompileContext, at: string, name: string): void {
  if (!ctx.agents.includes(name)) ctx.issue(`${ctx.path}.${at}`, `unknown agent "${name}"; known agents: ${listOr([...ctx.agents].sort(), '(none)')}`);
}

/** The steps an aggregation reads: its `of`, or else its `dependsOn`, each with its path. */
export function readsOfOrDeps(def: { of?: string[] | undefined; dependsOn: string[] }): { at: string; stepId: string }[] {
  return (def.of ?? def.dependsOn).map((stepId, i) => ({ at: def.of ? `of[${i}]` : `dependsOn[${i}]`, stepId }));
}
