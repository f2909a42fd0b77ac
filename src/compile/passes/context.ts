/**
 * The run's shared context: what a step publishes, and what a step may read. A context name a
 * step's templates read must be published by one of its ancestors, and by no step that may
 * run at the same time as it (what it read would depend on which finished first).
 */
import type { StepDefinition } from '../../kinds/definition.js';
import { ancestorsOf, type CompileState, type StepDraft } from './state.js';

/** What a step publishes into its run's context (an approval step's `publish` is its gate's own). */
export const contextPublish = (def: StepDefinition | undefined): true | string[] | { as: string } | undefined =>
  def === undefined || def.kind === 'approval' ? undefined : def.publish;

const publishes = (state: CompileState, id: string, name: string): boolean => {
  const p = contextPublish(state.byId.get(id)?.def);
  return p === true || (Array.isArray(p) ? p.includes(name) : p?.as === name);
};

/** Check that `d` may read context `name` (at `path`, in `what`), and note that it reads it. */
export function checkContextRef(state: CompileState, d: StepDraft, name: string, path: string, what: string): void {
  const { ids, issues } = state;
  const self = d.def.id;
  const mine = ancestorsOf(state, self);
  // A publisher that may run at the same time as the reader would make what it reads depend
  // on which finished first: every publisher must come before it or after it.
  const concurrent = ids.filter((id) => id !== self && publishes(state, id, name) && !mine.has(id) && !ancestorsOf(state, id).has(self));
  if (![...mine].some((a) => publishes(state, a, name))) {
    const publishers = ids.filter((id) => publishes(state, id, name));
    issues.push({
      path,
      message: publishers.length
        ? `${what} reads context "${name}", which only ${publishers.map((p) => `"${p}"`).join(', ')} publish${publishers.length === 1 ? 'es' : ''}, and none of them is an ancestor of "${self}" (nothing makes it publish first); add it to dependsOn of "${self}"`
        : `${what} reads context "${name}", which no step publishes; add publish: [${name}] (or publish: true) to a step "${self}" depends on`,
    });
  } else if (concurrent.length) {
    issues.push({
      path,
      message: `${what} reads context "${name}", which ${concurrent.map((p) => `"${p}"`).join(', ')} also publish${concurrent.length === 1 ? 'es' : ''} and may run at the same time as "${self}" (what it reads would depend on which finished first); make ${concurrent.length === 1 ? 'it' : 'them'} depend on "${self}", or "${self}" on ${concurrent.length === 1 ? 'it' : 'them'}`,
    });
  }
  if (!state.contextReads.has(self)) state.contextReads.set(self, new Set());
  state.contextReads.get(self)!.add(name);
}
