/** The compact form in which create-run and steps-add receive new steps (see createSteps in lua/common.lua). */
import type { StepRecord } from '../../model/run.js';
import { json } from './script.js';

/** A step to create: its record starts `pending` with these fields. */
export type NewStep = Pick<StepRecord, 'stepId' | 'kind' | 'agent' | 'parent' | 'dependsOn' | 'optional'>;

export const stepPlan = (steps: readonly NewStep[]): string =>
  JSON.stringify(steps.map((s) => [s.stepId, s.kind, json(s.agent), json(s.parent), json(s.dependsOn), s.optional]));
