/**
 * Each step by itself: unique ids (the first definition of a duplicated id is the one the
 * graph uses), its kind's own checks (known agents...) and output schemas, its kind's checks
 * against the other steps, and its `dependsOn` (no unknown id, not itself).
 */
import { stepSchemaIssues } from '../output-schemas.js';
import { ruleFor, type CompileState } from './state.js';

export function stepsPass(state: CompileState): void {
  const { drafts, byId, issues } = state;
  const issue = (path: string, message: string) => issues.push({ path, message });
  for (const d of drafts) {
    const first = byId.get(d.def.id);
    if (first) issues.push({ path: `${d.path}.id`, message: `duplicate step id "${d.def.id}" (first defined at ${first.path})` });
    else byId.set(d.def.id, d);
    ruleFor(d.def).check(d.def, { agents: state.agents, path: d.path, issue, caps: state.caps });
    issues.push(...stepSchemaIssues(d.def, d.path, state.bounds, state.schemas));
  }
  state.ids = [...byId.keys()];
  const step = (id: string) => byId.get(id)?.def;
  for (const d of drafts) ruleFor(d.def).crossCheck?.(d.def, { agents: state.agents, path: d.path, issue, step });
  for (const d of drafts) {
    d.def.dependsOn.forEach((dep, j) => {
      const path = `${d.path}.dependsOn[${j}]`;
      if (dep === d.def.id) issues.push({ path, message: `step "${dep}" depends on itself` });
      else if (!byId.has(dep)) issues.push({ path, message: `unknown step "${dep}" in dependsOn; steps: ${state.ids.join(', ')}` });
    });
  }
}
