/** `kind: agent` (the default): one call to an agent type with a rendered input. */
import { z } from 'zod';
import { AgentName, OrchestrationOptions } from '../../model/agent.js';
import { JsonObject } from '../../model/json.js';
import { OutputSpec } from '../../model/output.js';
import { StepRouting } from '../../model/routing.js';
import { COMPILED_FIELDS, STEP_FIELDS, StepInput } from '../../model/step.js';

export const AgentStepDefinition = z
  .object({
    ...STEP_FIELDS,
    kind: z.literal('agent'),
    /** Agent type that runs the step. */
    agent: z.string().min(1),
    input: StepInput,
    /** Agents this step may delegate to, instead of the agent's own `delegates` (an empty list: none). */
    delegates: z.array(AgentName).optional(),
    /** Bounds of the delegation, over the agent's own. */
    orchestration: OrchestrationOptions.optional(),
    /** A structured answer for this step, instead of the agent's `output` (if any). */
    output: OutputSpec.optional(),
  })
  .strict();

export const CompiledAgentStep = z.object({
  ...COMPILED_FIELDS,
  kind: z.literal('agent'),
  agent: z.string(),
  input: StepInput,
  /** The input is used verbatim, without template rendering (single-agent tasks). */
  literal: z.boolean().optional(),
  delegates: z.array(z.string()).optional(),
  orchestration: OrchestrationOptions.optional(),
  /** JSON Schema of a structured answer (the step's `output.schema`). */
  outputSchema: JsonObject.optional(),
  /** Its dependencies' outputs go into its context as `dependencies: {<id>: output}` (steps of a plan). */
  dependencyOutputs: z.boolean().optional(),
  /**
   * Set on a step an orchestrator added for a tool call: how many delegations deep it is, and
   * the deepest the delegation tree it belongs to may go.
   */
  delegation: z.object({ depth: z.number().int().min(1), maxDepth: z.number().int().min(1) }).optional(),
  /** In a rerun from this step: the feedback, and what the step answered before, added to its context. */
  feedback: z.object({ text: z.string(), previousOutput: z.unknown() }).optional(),
  /** How its agent was chosen when a capability was named instead (kept on its record). */
  routing: StepRouting.optional(),
});
