/** The compact form in which create-run and steps-add receive new steps (see createSteps in lua/includes/createSteps.lua). */
import type { StepRecord } from '../../model/run.js';
import { json } from './script.js';

/** A step to create: its record starts `pending` with these fields (`routing`: how its agent was chosen, when it was). */
export type NewStep = Pick<StepRecord, 'stepId' | 'kind' | 'agent' | 'parent' | 'dependsOn' | 'optional'> & Partial<Pick<StepRecord, 'routing'>>;

/** Plans already made, by their steps' list: a list kept for every run of an agent's tasks (submissions.ts) is encoded once. */
const planned = new WeakMap<readonly NewStep[], string>();

/** The plan of a list whose steps are not changed afterwards (frozen): encoded once for that list. */
export function stepPlan(steps: readonly NewStep[]): string {
  if (!Object.isFrozen(steps)) return encodePlan(steps);
  let plan = planned.get(steps);
  if (plan === undefined) planned.set(steps, (plan = encodePlan(steps)));
  return plan;
}

const encodePlan = (steps: readonly NewStep[]): string =>
  JSON.stringify(
    steps.map((s) => {
      const row: unknown[] = [s.stepId, s.kind, json(s.agent), json(s.parent), json(s.dependsOn), s.optional];
      // Only a routed step carries a seventh element (a JSON null would reach Lua as a truthy cjson.null).
      if (s.routing) row.push(json(s.routing));
      return row;
    }),
  );
