/**
 * What a step's templates and expressions read (its scope), and rendering over it: the run
 * input, the outputs of the steps it reads, the run's context. Shared by every kind that
 * renders (and by the step machine, for `when`). A failure here is not retryable: the same
 * input fails again.
 */
import { NonRetryableError, toError } from '../../errors/index.js';
import { evaluateWhen } from '../../lang/evaluate.js';
import { RENDERED_BYTES_SETTING, renderTemplates, type TemplateScope } from '../../lang/templates.js';
import { jsonBytes } from '../../lang/text-size.js';
import type { ExecutionContext } from '../executor.js';

/**
 * The scope templates read: the run input and the outputs of the steps read; `maxBytes` bounds
 * what is rendered or built over it (SWITCHYARD_MAX_RENDERED_BYTES).
 */
export function templateScope(
  runInput: Record<string, unknown>,
  reads: readonly { stepId: string; status: string; output: unknown }[],
  context?: Record<string, unknown>,
  maxBytes?: number,
): TemplateScope {
  // Built for every step rendered: fields set one by one, not spread from objects made for it,
  // and the steps in a loop, not through a list of pairs (Object.fromEntries). (A step id starts
  // with a letter, model/step.ts: none is `__proto__`.)
  const steps: TemplateScope['steps'] = {};
  for (const r of reads) steps[r.stepId] = { status: r.status, output: r.output };
  const scope: TemplateScope = { input: runInput, steps };
  if (context) scope.context = context;
  if (maxBytes !== undefined) scope.maxBytes = maxBytes;
  return scope;
}

/** What of a step's context its scope is built from. */
type ScopeSource = Pick<ExecutionContext, 'runInput' | 'reads' | 'context' | 'bounds'>;

/** The scope of a step's templates and expressions, bounded by its bounds (SWITCHYARD_MAX_RENDERED_BYTES). */
export const scopeOf = (ctx: ScopeSource): TemplateScope => templateScope(ctx.runInput, ctx.reads, ctx.context, ctx.bounds.maxRenderedBytes);

/**
 * `value` with its templates rendered over the run input and the steps the step reads (and
 * `vars`, the names a kind provides). A failure is not retryable: the same input fails again.
 */
export function renderFor<T>(value: T, ctx: ScopeSource, what: string, vars?: Record<string, unknown>): T {
  return renderWith(value, scopeOf(ctx), what, vars);
}

/** renderFor over a scope built once (a kind that renders many values over the same one). */
export function renderWith<T>(value: T, scope: TemplateScope, what: string, vars?: Record<string, unknown>): T {
  try {
    return renderTemplates(value, vars ? { ...scope, vars } : scope);
  } catch (err) {
    throw new NonRetryableError(`could not render ${what}: ${toError(err).message}`);
  }
}

/**
 * What a step sends its model is bounded like rendered text (SWITCHYARD_MAX_RENDERED_BYTES),
 * with what is added to its input besides templates (dependencies' outputs, a previous draft,
 * the outputs a synthesis reads): measured before the prompt is built. `what` names it.
 */
export function assertWithinPrompt(value: unknown, ctx: Pick<ExecutionContext, 'bounds'>, what: string): void {
  const max = ctx.bounds.maxRenderedBytes;
  if (jsonBytes(value, max) > max) throw new NonRetryableError(`${what} is more than ${max} bytes of text (${RENDERED_BYTES_SETTING})`);
}

/** A kind's own expression (a loop's `until`, a gate's rule) over `scope`; a failure is not retryable. */
export function evaluateFor(expr: string, scope: TemplateScope, what: string): boolean {
  try {
    return evaluateWhen(expr, scope);
  } catch (err) {
    throw new NonRetryableError(`could not evaluate ${what}: ${toError(err).message}`);
  }
}
