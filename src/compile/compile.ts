/**
 * Workflow compiler: definition (YAML/JSON, untrusted) → CompiledWorkflow (validated DAG), as a
 * list of passes over one shared draft (passes/state.ts):
 *
 * 1. bounds, parse (passes/parse.ts): nesting, step count, then zod; these stop at once.
 * 2. expand: sugar (sequential, parallel, rounds, patterns) into steps with their edges.
 * 3. steps: unique ids, each kind's own checks (its rule, src/kinds/<kind>/compile.ts), dependsOn.
 * 4. graph: dependencies and dependents over known ids, cycles.
 * 5. joins: `any`, `quorum`, `bestEffort`: optional members, early-join watches.
 * 6. references: templates, expressions and the steps a kind reads (ancestors only), and the
 *    run's context (published by an ancestor, by no concurrent step: passes/context.ts).
 * 7. workflow: output ids, input defaults, schedule.
 * 8. emit: a stable topological order (definition order among ready steps), each step compiled.
 *
 * Every problem of passes 2-7 is collected, and thrown in one ValidationError listing them.
 */
import type { Bounds } from '../config/env.js';
import { DEFAULT_BOUNDS } from '../config/env.js';
import type { CompiledWorkflow } from '../kinds/definition.js';
import type { RequestCaps } from '../kinds/compile-rule.js';
import type { SchemaHandling } from './output-schemas.js';
import { emit } from './passes/emit.js';
import { expandPass } from './passes/expand.js';
import { graphPass } from './passes/graph.js';
import { fail } from './passes/issues.js';
import { joinsPass } from './passes/joins.js';
import { parseWorkflow } from './passes/parse.js';
import { referencesPass } from './passes/references.js';
import { newState, type CompileState } from './passes/state.js';
import { stepsPass } from './passes/steps.js';
import { workflowPass } from './passes/workflow.js';

export interface CompileOptions {
  /** Agent types a step may name. */
  agents: readonly string[];
  /** Most steps and deepest nesting (default: SWITCHYARD_MAX_STEPS and SWITCHYARD_MAX_JSON_DEPTH defaults). */
  bounds?: Bounds;
  /** Where the definition came from (file path); default "inline". */
  source?: string;
  /** A definition a request brings: the most orchestration its steps may ask for. */
  caps?: RequestCaps;
  /**
   * Each step's output schema, once within the bounds: compiled now, on this thread (default:
   * definitions read at start-up), or handed to this function to be compiled off the event
   * loop (an inline definition: see WorkflowCatalog).
   */
  schemas?: SchemaHandling;
}

/** The checking passes, in order: each adds its part of the draft and its problems. */
const PASSES: readonly ((state: CompileState) => void)[] = [expandPass, stepsPass, graphPass, joinsPass, referencesPass, workflowPass];

/** Validate and compile a workflow definition. Throws one ValidationError listing every problem. */
export function compileWorkflow(def: unknown, opts: CompileOptions): CompiledWorkflow {
  const source = opts.source ?? 'inline';
  const bounds = opts.bounds ?? DEFAULT_BOUNDS;
  const wf = parseWorkflow(def, source, bounds);
  const state = newState(wf, { agents: opts.agents, bounds, caps: opts.caps, schemas: opts.schemas });
  for (const pass of PASSES) pass(state);
  if (state.issues.length) fail(wf.name, source, state.issues);
  return emit(state, source);
}
