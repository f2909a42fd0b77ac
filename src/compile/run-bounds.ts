/**
 * What a run will become, checked at submit as far as its input tells: a small request must not
 * turn into a huge prompt or thousands of steps once it runs. Two bounds can be known then:
 *
 * - a step's rendered input (SWITCHYARD_MAX_RENDERED_BYTES): its literal text and what its
 *   `{{input...}}` templates insert are measured, without rendering, so `{{input.x}}` repeated
 *   over a large `x` is refused before anything is stored;
 * - the run's steps (SWITCHYARD_MAX_STEPS): those of its workflow plus the items of each forEach
 *   over the run input (the rest of what a run adds is counted as it runs: see growth.ts);
 * - a forEach's list from the run input longer than its own `maxItems` (without `truncate`),
 *   which would fail the run once it reached the step.
 *
 * What depends on other steps' outputs is bounded as the run executes (a failed step naming the
 * limit).
 */
import type { Bounds } from '../config/env.js';
import { ValidationError, type Issue } from '../errors/index.js';
import type { CompiledStep, CompiledStepOf, CompiledWorkflow } from '../kinds/definition.js';
import { ruleOf } from '../kinds/rules.js';
import { findTemplateRefs, knownRenderedBytes, listOf, RENDERED_BYTES_SETTING, resolveTemplateValue } from '../lang/templates.js';

/** How many items a forEach's list has when it comes from the run input (undefined: from elsewhere, or not a list). */
function inputItems(step: CompiledStepOf<'forEach'>, input: Record<string, unknown>): number | undefined {
  const [ref] = findTemplateRefs(step.items);
  if (ref?.kind !== 'input') return undefined;
  return listOf(resolveTemplateValue(step.items, { input, steps: {} }))?.length;
}

/** How many steps a forEach over the run input adds (undefined when its list comes from elsewhere). */
export function forEachWidth(step: CompiledStepOf<'forEach'>, input: Record<string, unknown>): number | undefined {
  const items = inputItems(step, input);
  if (items === undefined) return undefined;
  // Past maxItems without truncate, it fails without adding any (refused at submit: runBoundsIssues).
  if (items > step.maxItems && !step.truncate) return 0;
  return Math.min(items, step.maxItems);
}

/** The problems of a run of `workflow` on `input` with these limits (empty when none is known yet). */
export function runBoundsIssues(workflow: CompiledWorkflow, input: Record<string, unknown>, bounds: Pick<Bounds, 'maxSteps' | 'maxRenderedBytes'>): Issue[] {
  const issues: Issue[] = [];
  for (const step of workflow.steps) {
    if (step.reuse) continue; // a rerun's step that reuses its output renders nothing
    const rule = ruleOf(step.kind) as { rendered(s: CompiledStep): { at: string; value: unknown }[] };
    for (const { at, value } of rule.rendered(step)) {
      const bytes = knownRenderedBytes(value, input);
      if (bytes > bounds.maxRenderedBytes) {
        issues.push({
          path: `steps.${step.id}.${at}`,
          message: `step "${step.id}": its ${at} renders to ${bytes} bytes of text from the run input alone; at most ${bounds.maxRenderedBytes} (${RENDERED_BYTES_SETTING})`,
        });
      }
    }
  }
  for (const step of workflow.steps) {
    if (step.kind !== 'forEach' || step.reuse || step.truncate) continue;
    const items = inputItems(step, input);
    if (items !== undefined && items > step.maxItems) {
      issues.push({
        path: `steps.${step.id}.items`,
        message: `step "${step.id}": its list (from the run input) has ${items} items; at most ${step.maxItems} (its maxItems; with truncate: true it takes the first ${step.maxItems})`,
      });
    }
  }
  const widths = workflow.steps.flatMap((s) => (s.kind === 'forEach' ? [[s.id, forEachWidth(s, input) ?? 0] as const] : [])).filter(([, n]) => n > 0);
  const added = widths.reduce((n, [, w]) => n + w, 0);
  const total = workflow.steps.length + added;
  if (added > 0 && total > bounds.maxSteps) {
    const listed =
      widths
        .slice(0, 5)
        .map(([id, n]) => `"${id}" ${n}`)
        .join(', ') + (widths.length > 5 ? ', ...' : '');
    issues.push({
      path: 'input',
      message: `the run would have ${total} steps: ${workflow.steps.length} in its workflow and ${added} that its forEach steps add for this input (${listed}); at most ${bounds.maxSteps} (SWITCHYARD_MAX_STEPS)`,
    });
  }
  return issues;
}

/** Throw a ValidationError (422) listing what this run would pass, if anything. */
export function assertRunBounds(workflow: CompiledWorkflow, input: Record<string, unknown>, bounds: Pick<Bounds, 'maxSteps' | 'maxRenderedBytes'>): void {
  const issues = runBoundsIssues(workflow, input, bounds);
  if (issues.length) throw new ValidationError(issues.map((i) => i.message).join('; '), issues);
}
