/**
 * The last pass, once every check has passed: the steps in a stable topological order, each
 * with its kind's compiled fields (its rule's `compile`) and what the passes found (its
 * dependencies, the steps and context names it reads, its joins, what it publishes).
 */
import type { CompiledStep, CompiledWorkflow } from '../../kinds/definition.js';
import { contextPublish } from './context.js';
import { topoOrder } from './graph.js';
import { ruleFor, type CompileState } from './state.js';

export function emit(state: CompileState, source: string): CompiledWorkflow {
  const { wf, deps, dependents } = state;
  const order = topoOrder(state.ids, deps, dependents);
  const steps = order.map((id, index) => compiledStep(state, id, index));
  return {
    name: wf.name,
    description: wf.description,
    // A field with a default may be left out: shown as not required, whatever it says.
    input: Object.fromEntries(Object.entries(wf.input).map(([name, f]) => [name, f.default !== undefined ? { ...f, required: false } : f])),
    steps,
    output: wf.output ? [...new Set(wf.output)] : order.filter((id) => dependents.get(id)!.length === 0),
    ...(wf.schedule && { schedule: wf.schedule }),
    automation: wf.automation,
    ...(wf.budget ? { budget: wf.budget } : {}),
    ...(wf.context ? { context: wf.context } : {}),
    source,
  };
}

/** Step `id`, `index`th in the topological order. */
function compiledStep(state: CompileState, id: string, index: number): CompiledStep {
  const { wf, byId } = state;
  const s = byId.get(id)!.def;
  const step = (x: string) => byId.get(x)?.def;
  const publish = contextPublish(s);
  // The rule's fields are those of the step's own kind (TypeScript cannot follow that through the union).
  return {
    id,
    ...(ruleFor(s).compile(s, { automation: wf.automation, step, caps: state.caps }) as Omit<CompiledStep, 'id'>),
    dependsOn: state.deps.get(id)!,
    ...(s.when !== undefined && { when: s.when }),
    ...(s.timeoutMs !== undefined && { timeoutMs: s.timeoutMs }),
    ...(s.attempts !== undefined && { attempts: s.attempts }),
    optional: s.optional || state.madeOptional.has(id),
    allowSkippedDeps: s.allowSkippedDeps,
    reads: [...state.reads.get(id)!].sort(),
    ...(s.join !== 'all' && { join: s.join }),
    ...(state.joinWatches.has(id) && { joinOf: state.joinWatches.get(id) }),
    ...(publish !== undefined && {
      toContext: { fields: publish === true ? 'all' : publish, order: index, byAuthority: wf.context?.conflict === 'authority' },
    }),
    ...(state.contextReads.has(id) && { readsContext: [...state.contextReads.get(id)!].sort() }),
  } as CompiledStep;
}
