/**
 * Joins other than `all`: their dependencies become optional; those an early join (`any`,
 * `quorum`) waits on are told of it (`joinOf`), and may be cancelled by it, so they may feed
 * nothing else. With each member go the steps upstream of it that feed nothing else, which are
 * cancelled with it.
 */
import type { JoinWatch } from '../../kinds/definition.js';
import type { CompileState } from './state.js';

/** Most dependencies of a join that may start early (`any`, `quorum`): each of them carries the list. */
export const MAX_EARLY_JOIN = 100;

export function joinsPass(state: CompileState): void {
  const { byId, deps, dependents, issues, joinWatches, madeOptional } = state;
  for (const [id, d] of byId) {
    const join = d.def.join;
    if (join === 'all') continue;
    const members = deps.get(id)!;
    const path = `${d.path}.join`;
    const label = typeof join === 'string' ? join : `{quorum: ${join.quorum}}`;
    if (members.length < 2) {
      issues.push({ path, message: `join: ${label} needs at least 2 dependencies; "${id}" has ${members.length}` });
      continue;
    }
    members.forEach((m) => madeOptional.add(m));
    if (join === 'bestEffort') continue;
    const need = join === 'any' ? 1 : join.quorum;
    if (need > members.length) issues.push({ path, message: `a quorum of ${need} needs at least ${need} dependencies; "${id}" has ${members.length}` });
    if (members.length > MAX_EARLY_JOIN)
      issues.push({ path, message: `join: ${label} waits on at most ${MAX_EARLY_JOIN} dependencies; "${id}" has ${members.length}` });
    for (const m of members) {
      const others = dependents.get(m)!.filter((x) => x !== id);
      if (others.length)
        issues.push({
          path,
          message: `join: ${label} cancels the steps it no longer needs, so they may feed no other step; "${m}" is also a dependency of ${others.map((x) => `"${x}"`).join(', ')}`,
        });
    }
    const upstream = Object.fromEntries(members.map((m): [string, string[]] => [m, exclusiveUpstream(state, m)]).filter(([, u]) => u.length > 0));
    const watch: JoinWatch = { step: id, label: join === 'any' ? 'any' : 'quorum', need, members, ...(Object.keys(upstream).length ? { upstream } : {}) };
    for (const m of members) joinWatches.set(m, [...(joinWatches.get(m) ?? []), watch]);
  }
}

/**
 * The steps upstream of `member` that feed nothing else (not the workflow's output either):
 * cancelling the member cancels them too, so the join is not held up by work nobody needs.
 */
export function exclusiveUpstream(state: Pick<CompileState, 'wf' | 'deps' | 'dependents'>, member: string): string[] {
  const { deps, dependents } = state;
  const outputs = new Set(state.wf.output ?? []);
  const mine = new Set([member]);
  // Closest first: a step's dependents are looked at before the step itself.
  const todo = [...(deps.get(member) ?? [])];
  const seen = new Set<string>();
  for (let i = 0; i < todo.length; i++) {
    const a = todo[i]!;
    if (seen.has(a)) continue;
    if (!dependents.get(a)!.every((x) => mine.has(x)) || outputs.has(a)) continue;
    // Every dependent decided? A dependent still undecided is looked at again later.
    seen.add(a);
    mine.add(a);
    todo.push(...(deps.get(a) ?? []));
  }
  mine.delete(member);
  return [...mine].sort();
}
