/**
 * What each step reads: the templates of its kind's values, the steps its kind reads, `when`
 * and its kind's own expressions. Each input field read must be declared, each step read must
 * be an ancestor (something makes it finish first), each context name read published before
 * it (context.ts). The steps each one reads are kept for the worker, which fetches just those.
 */
import { ValidationError } from '../../errors/index.js';
import { parseWhen, whenRefs } from '../../lang/expression.js';
import { findTemplateRefs } from '../../lang/templates.js';
import { checkContextRef } from './context.js';
import { formatPath } from './issues.js';
import { ancestorsOf, listOr, ruleFor, type CompileState, type StepDraft } from './state.js';

export function referencesPass(state: CompileState): void {
  for (const id of state.ids) state.reads.set(id, new Set());
  for (const d of state.drafts) {
    templateRefs(state, d);
    for (const { at, stepId } of ruleFor(d.def).reads?.(d.def) ?? []) {
      checkStepRef(state, d, stepId, `${d.path}.${at}`, at);
      state.reads.get(d.def.id)?.add(stepId);
    }
    expressionRefs(state, d);
  }
}

/** The templates in the values the step's kind says are templated. */
function templateRefs(state: CompileState, d: StepDraft): void {
  const templated = ruleFor(d.def).templated(d.def);
  for (const ref of templated.flatMap(({ at, value, vars }) => findTemplateRefs(value, vars).map((r) => ({ ...r, base: `${d.path}.${at}` })))) {
    const path = formatPath(ref.at, ref.base);
    if (ref.kind === 'invalid') state.issues.push({ path, message: `invalid template ${ref.raw}: ${ref.reason}` });
    else if (ref.kind === 'input') checkInputRef(state, ref.path[0]!, path, `template ${ref.raw}`);
    else if (ref.kind === 'step') {
      checkStepRef(state, d, ref.stepId, path, `template ${ref.raw}`);
      state.reads.get(d.def.id)?.add(ref.stepId);
    } else if (ref.kind === 'context') checkContextRef(state, d, ref.name, path, `template ${ref.raw}`);
  }
}

/** `when`, and the kind's own expressions (a loop's `until`, a gate's rules). */
function expressionRefs(state: CompileState, d: StepDraft): void {
  const expressions = [
    ...(d.def.when === undefined ? [] : [{ at: 'when', expr: d.def.when, vars: [] as readonly string[] }]),
    ...(ruleFor(d.def).expressions?.(d.def) ?? []),
  ];
  for (const { at, expr, vars } of expressions) {
    const path = `${d.path}.${at}`;
    try {
      const refs = whenRefs(parseWhen(expr, vars, state.bounds));
      for (const s of refs.steps) {
        checkStepRef(state, d, s, path, at);
        state.reads.get(d.def.id)?.add(s);
      }
      for (const f of refs.input) checkInputRef(state, f, path, at);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      state.issues.push({ path, message: at === 'when' ? err.message : err.message.replace(/^when /, `${at} `) });
    }
  }
}

function checkInputRef(state: CompileState, field: string, path: string, what: string): void {
  const { input } = state.wf;
  if (Object.hasOwn(input, field)) return;
  state.issues.push({
    path,
    message: `${what} reads input field "${field}", which is not declared in input (declared: ${listOr(Object.keys(input), 'none')})`,
  });
}

function checkStepRef(state: CompileState, d: StepDraft, ref: string, path: string, what: string): void {
  const self = d.def.id;
  const { issues } = state;
  if (ref === self) issues.push({ path, message: `${what} reads step "${ref}", the step itself` });
  else if (!state.byId.has(ref)) issues.push({ path, message: `${what} references unknown step "${ref}"; steps: ${state.ids.join(', ')}` });
  else if (!ancestorsOf(state, self).has(ref)) {
    issues.push({
      path,
      message: `${what} reads step "${ref}", which is not an ancestor of "${self}" (nothing makes it finish first); add "${ref}" to dependsOn of "${self}"`,
    });
  }
}
