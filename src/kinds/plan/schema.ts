/**
 * `kind: plan`: a planner agent answers with a plan (steps with agents, tasks and
 * dependencies), which is checked by the workflow compiler and run as a sub-DAG of the run.
 */
import { z } from 'zod';
import { AgentName } from '../../model/agent.js';
import { COMPILED_FIELDS, STEP_FIELDS, StepInput } from '../../model/step.js';

export const PlanStepDefinition = z
  .object({
    ...STEP_FIELDS,
    kind: z.literal('plan'),
    /** The planner agent. */
    agent: z.string().min(1),
    input: StepInput,
    /** Agents the plan may use (default: every agent but the planner). */
    agents: z.array(AgentName).min(1).optional(),
    /** Most steps in the plan. */
    maxSteps: z.number().int().min(1).max(100).default(10),
  })
  .strict();

export const CompiledPlanStep = z.object({
  ...COMPILED_FIELDS,
  kind: z.literal('plan'),
  agent: z.string(),
  input: StepInput,
  agents: z.array(z.string()).optional(),
  maxSteps: z.number().int().min(1).max(100),
});
