/**
 * A planner's plan, checked and compiled as a workflow (the same schema, the same problems),
 * with at most the plan step's `maxSteps`. The plan kind's executor is given this
 * (src/kinds/plan/execute.ts): the compiler sits above the kinds.
 */
import { DEFAULT_BOUNDS } from '../config/env.js';
import type { CompilePlan } from '../kinds/plan/execute.js';
import { compileWorkflow } from './compile.js';

export const compilePlan: CompilePlan = (definition, { agents, maxSteps }) =>
  compileWorkflow(definition, { agents, bounds: { ...DEFAULT_BOUNDS, maxSteps }, source: 'plan' });
