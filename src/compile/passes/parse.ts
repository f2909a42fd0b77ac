/**
 * The first two passes, which stop at once: the bounds (nesting depth, number of steps, a
 * field named `__proto__`), checked before anything walks the untrusted definition
 * recursively (zod included), then zod's parse with WorkflowDefinition, its issues turned into
 * readable paths.
 */
import { ValidationError } from '../../errors/index.js';
import type { Bounds } from '../../config/env.js';
import { WorkflowDefinition } from '../../kinds/definition.js';
import { assertDepth, countSteps } from '../bounds.js';
import { fail, fromZod, valueAt } from './issues.js';

/** Refuses a definition past the bounds, naming the workflow (`name`) when it has one. */
export function checkBounds(def: unknown, name: string | undefined, source: string, bounds: Bounds): void {
  try {
    assertDepth(def, bounds.maxJsonDepth);
  } catch (err) {
    if (err instanceof ValidationError) fail(name, source, err.issues);
    throw err;
  }
  const stepCount = countSteps(valueAt(def, ['steps']));
  if (stepCount > bounds.maxSteps) {
    fail(name, source, [{ path: 'steps', message: `the workflow has ${stepCount} steps; at most ${bounds.maxSteps} (SWITCHYARD_MAX_STEPS)` }]);
  }
  // zod's records drop an own `__proto__` key silently: a declared field of that name would vanish.
  const declaredInput = valueAt(def, ['input']);
  if (declaredInput !== null && typeof declaredInput === 'object' && Object.hasOwn(declaredInput, '__proto__')) {
    fail(name, source, [{ path: 'input.__proto__', message: 'an input field may not be named "__proto__"' }]);
  }
}

/** The definition within the bounds and parsed, or a ValidationError listing its problems. */
export function parseWorkflow(def: unknown, source: string, bounds: Bounds): WorkflowDefinition {
  const name = valueAt(def, ['name']);
  const named = typeof name === 'string' ? name : undefined;
  checkBounds(def, named, source, bounds);
  const parsed = WorkflowDefinition.safeParse(def);
  if (!parsed.success) fail(named, source, fromZod(parsed.error.issues, def));
  return parsed.data;
}
