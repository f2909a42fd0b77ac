/**
 * The draft the compiler's passes share: each pass reads what the passes before it found and
 * adds its own part (see the list in compile.ts). Problems are collected in `issues`, in the
 * order the passes find them, and thrown together once every check has run.
 */
import type { Issue } from '../../errors/index.js';
import type { Bounds } from '../../config/env.js';
import type { JoinWatch, StepDefinition, StepKind, WorkflowDefinition } from '../../kinds/definition.js';
import type { KindRule, RequestCaps } from '../../kinds/compile-rule.js';
import { ruleOf } from '../../kinds/rules.js';
import type { SchemaHandling } from '../output-schemas.js';

/** A step during compilation: its definition, its place in the document, and all its direct dependencies. */
export interface StepDraft {
  def: StepDefinition;
  path: string;
  deps: Set<string>;
}

export interface CompileState {
  /** The definition as parsed (parse). */
  wf: WorkflowDefinition;
  agents: readonly string[];
  bounds: Bounds;
  caps: RequestCaps | undefined;
  schemas: SchemaHandling | undefined;
  issues: Issue[];
  /** expand: every step in definition order, with the edges sugar implies. */
  drafts: StepDraft[];
  /** steps: the first definition of each id (the one the graph uses), and the ids in definition order. */
  byId: Map<string, StepDraft>;
  ids: string[];
  /** graph: each step's direct dependencies over known ids (sorted), and its dependents. */
  deps: Map<string, string[]>;
  dependents: Map<string, string[]>;
  /** joins: the early joins each step is watched by, and the steps a join made optional. */
  joinWatches: Map<string, JoinWatch[]>;
  madeOptional: Set<string>;
  /** references: the steps each step reads, and the context names it reads. */
  reads: Map<string, Set<string>>;
  contextReads: Map<string, Set<string>>;
  /** Each step's ancestors, once asked for (see ancestorsOf). */
  ancestorCache: Map<string, Set<string>>;
}

export function newState(
  wf: WorkflowDefinition,
  opts: { agents: readonly string[]; bounds: Bounds; caps?: RequestCaps | undefined; schemas?: SchemaHandling | undefined },
): CompileState {
  return {
    wf,
    agents: opts.agents,
    bounds: opts.bounds,
    caps: opts.caps,
    schemas: opts.schemas,
    issues: [],
    drafts: [],
    byId: new Map(),
    ids: [],
    deps: new Map(),
    dependents: new Map(),
    joinWatches: new Map(),
    madeOptional: new Set(),
    reads: new Map(),
    contextReads: new Map(),
    ancestorCache: new Map(),
  };
}

/** The rule of a definition's kind, typed for that definition. */
export const ruleFor = (def: StepDefinition): KindRule<StepKind> => ruleOf<StepKind>(def.kind);

/** Every step `id` waits for, directly or not (once the graph is built). */
export function ancestorsOf(state: CompileState, id: string): Set<string> {
  let found = state.ancestorCache.get(id);
  if (found) return found;
  found = new Set<string>();
  const todo = [...state.deps.get(id)!];
  for (let x = todo.pop(); x !== undefined; x = todo.pop()) {
    if (found.has(x)) continue;
    found.add(x);
    todo.push(...state.deps.get(x)!);
  }
  state.ancestorCache.set(id, found);
  return found;
}

export const listOr = (items: readonly string[], none: string): string => (items.length ? items.join(', ') : none);
