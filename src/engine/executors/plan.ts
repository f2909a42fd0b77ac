/**
 * `kind: plan`: plans that a planner agent writes and the system executes (seed 000's
 * `steps_planner`, seed 004's "orchestrated" mode). The planner (on its own pool, with its
 * limits) is asked, through a forced `plan` tool, for steps `{id, agent, task, dependsOn}`.
 * The plan is checked by the same workflow schema and compiler as any workflow (known agents
 * among those allowed, unique ids, no unknown dependency, no cycle, at most `maxSteps`); an
 * invalid plan goes back to the planner once with the problems, and a second invalid plan
 * fails the step with them. A valid plan runs as a sub-DAG of the run (`<plan>.<id>`, with
 * as much parallelism as its dependencies allow; each step gets its dependencies' outputs in
 * its context), and the step answers with the plan and every step's output.
 *
 * The plan is saved as the checkpoint before its steps are added, so a delivery after a
 * crash asks the planner nothing again and adds no step twice.
 */
import type { AgentRegistry } from '../../agents/registry.js';
import { DEFAULT_LIMITS } from '../../config/env.js';
import { NonRetryableError, ValidationError, toError } from '../../errors/index.js';
import { buildMessages } from '../../providers/prompt.js';
import type { ChatMessage, Provider, ToolCall } from '../../providers/provider.js';
import type { Usage } from '../../runs/types.js';
import { compileWorkflow } from '../../workflows/compile.js';
import { STEP_ID_PATTERN, type StepInput } from '../../workflows/definition.js';
import { schemaErrors } from '../../workflows/json-schema.js';
import { renderTemplates } from '../../workflows/templates.js';
import type { ChildStep, StepExecutor } from '../executor.js';
import { templateScope } from './agent.js';

export const PLAN_TOOL = 'plan';

export interface PlanExecutorDeps {
  registry: AgentRegistry;
  providerFor: (agent: string) => Provider;
}

interface PlannedStep {
  id: string;
  agent: string;
  task: string;
  dependsOn?: string[];
}

interface PlanCheckpoint {
  plan: 1;
  steps: PlannedStep[];
  children: ChildStep[];
  usage: Usage;
  model: string;
  rounds: number;
}

function planSchema(agents: string[], maxSteps: number): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      steps: {
        type: 'array',
        minItems: 1,
        maxItems: maxSteps,
        items: {
          type: 'object',
          properties: {
            id: { type: 'string', pattern: STEP_ID_PATTERN.source, examples: ['s1'], description: 'unique id: a letter, then letters, digits, "_" or "-"' },
            agent: { type: 'string', enum: agents, description: 'the agent that does this step' },
            task: { type: 'string', description: 'what the step does, complete in itself' },
            dependsOn: { type: 'array', items: { type: 'string' }, description: 'ids of the steps whose results this one needs' },
          },
          required: ['id', 'agent', 'task'],
        },
      },
    },
    required: ['steps'],
  };
}

export function planExecutor(deps: PlanExecutorDeps): StepExecutor<'plan'> {
  return {
    async execute(step, ctx) {
      const cp = isPlanCheckpoint(ctx.checkpoint) ? ctx.checkpoint : await makePlan();
      if (!ctx.resumed) {
        await ctx.addSteps(cp.children);
        return { type: 'wait' };
      }
      const records = await ctx.steps(cp.children.map((c) => c.id));
      const outputs = Object.fromEntries(records.map((r) => [r.stepId.slice(step.id.length + 1), r.status === 'succeeded' ? r.output : null]));
      return { type: 'succeeded', output: { plan: cp.steps, outputs }, usage: cp.usage, model: cp.model, event: { planSteps: cp.steps.length, rounds: cp.rounds } };

      async function makePlan(): Promise<PlanCheckpoint> {
        const planner = deps.registry.require(step.agent);
        let input: StepInput;
        try {
          input = renderTemplates(step.input, templateScope(ctx.runInput, ctx.reads));
        } catch (err) {
          throw new NonRetryableError(`could not render the step input: ${toError(err).message}`);
        }
        const agents = step.agents ?? deps.registry.names().filter((a) => a !== step.agent);
        const schema = planSchema(agents, step.maxSteps);
        const tool = { name: PLAN_TOOL, description: `Give the plan: at most ${step.maxSteps} steps, each on one of these agents: ${agents.join(', ')}. Steps that do not depend on each other run in parallel.`, inputSchema: schema };
        let messages: ChatMessage[] = buildMessages(input);
        const usage = { inputTokens: 0, outputTokens: 0 };
        for (let round = 1; ; round++) {
          const res = await deps.providerFor(step.agent).complete({
            agent: step.agent,
            model: planner.model,
            system: planner.systemPrompt || undefined,
            messages,
            tools: [tool],
            toolChoice: { name: PLAN_TOOL },
            ...(planner.temperature !== undefined ? { temperature: planner.temperature } : {}),
            maxTokens: planner.maxTokens,
            signal: ctx.signal,
          });
          usage.inputTokens += res.usage.inputTokens;
          usage.outputTokens += res.usage.outputTokens;
          const call: ToolCall | undefined = res.toolCalls?.find((c) => c.name === PLAN_TOOL);
          const value = call && call.invalidInput === undefined ? call.input : undefined;
          const checked = value === undefined ? { problems: ['(root): the answer is not a plan (no plan tool call with JSON arguments)'] } : checkPlan(value, schema, agents, step.maxSteps);
          if ('children' in checked) {
            const children = checked.children.map((c) => ({ ...c, id: `${step.id}.${c.id}`, dependsOn: c.dependsOn.map((d) => `${step.id}.${d}`), reads: c.dependsOn.map((d) => `${step.id}.${d}`) }));
            const made: PlanCheckpoint = { plan: 1, steps: checked.steps, children, usage, model: res.model, rounds: round };
            // The plan is durable before any of its steps is added.
            await ctx.saveCheckpoint(made);
            ctx.progress({ planned: children.length, rounds: round });
            return made;
          }
          if (round === 2) throw new NonRetryableError(`the plan is invalid (asked twice): ${checked.problems.join('; ')}`);
          const fix = `The plan is invalid: ${checked.problems.join('; ')}. Give a corrected plan with ${PLAN_TOOL}.`;
          messages = call
            ? [...messages, { role: 'assistant', content: res.text, toolCalls: [call] }, { role: 'tool', results: [{ toolCallId: call.id, content: fix, isError: true }] }]
            : [...messages, { role: 'assistant', content: res.text }, { role: 'user', content: fix }];
        }
      }
    },
  };
}

/** The plan's steps compiled (ids still local), or its problems. */
function checkPlan(value: unknown, schema: Record<string, unknown>, agents: string[], maxSteps: number): { steps: PlannedStep[]; children: ChildStep[] } | { problems: string[] } {
  const problems = schemaErrors(schema, value);
  if (problems.length) return { problems };
  const steps = (value as { steps: PlannedStep[] }).steps;
  try {
    const wf = compileWorkflow(
      { name: 'plan', steps: steps.map((s) => ({ id: s.id, agent: s.agent, input: { task: s.task }, dependsOn: s.dependsOn ?? [] })) },
      { agents, limits: { ...DEFAULT_LIMITS, maxSteps }, source: 'plan' },
    );
    // Literal tasks (a plan's text is never a template), each given its dependencies' outputs.
    const children = wf.steps.map((s): ChildStep => (s.kind === 'agent' ? { ...s, literal: true, dependencyOutputs: true } : s));
    return { steps, children };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return { problems: err.issues.length ? err.issues.map((i) => `${i.path}: ${i.message}`) : [err.message] };
  }
}

function isPlanCheckpoint(v: unknown): v is PlanCheckpoint {
  return v !== null && typeof v === 'object' && (v as PlanCheckpoint).plan === 1;
}
