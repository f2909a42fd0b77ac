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
import type { ResolvedAgent } from '../../model/agent.js';
import { ValidationError } from '../../errors/index.js';
import { buildMessages } from '../../calls/prompt.js';
import type { Provider } from '../../calls/provider.js';
import type { SchemaValidator } from '../../lang/schema-checker.js';
import { STEP_ID_PATTERN } from '../../model/step.js';
import type { CompiledWorkflow } from '../definition.js';
import type { ChildStep, StepExecutor } from '../executor.js';
import { requestOf } from '../shared/request.js';
import { renderFor } from '../shared/scope.js';
import { structuredCall } from '../shared/structured.js';

export const PLAN_TOOL = 'plan';

export interface PlanExecutorDeps {
  providerFor: (agent: ResolvedAgent) => Provider;
  /** Checks the plan's answer off the event loop (the process's schema thread). */
  schemas?: SchemaValidator;
  /** Checks a plan as the workflow compiler checks any workflow. */
  compilePlan: CompilePlan;
}

/**
 * Compiles a plan (a workflow definition of agent steps) with the workflow compiler, or throws
 * its ValidationError. Given by whoever builds the executors (src/compile/plan.ts), since the
 * compiler sits above the kinds.
 */
export type CompilePlan = (definition: unknown, opts: { agents: readonly string[]; maxSteps: number }) => CompiledWorkflow;

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
      return { type: 'succeeded', output: { plan: cp.steps, outputs }, model: cp.model, event: { planSteps: cp.steps.length, rounds: cp.rounds } };

      async function makePlan(): Promise<PlanCheckpoint> {
        const planner = ctx.agents.require(step.agent);
        const input = renderFor(step.input, ctx, 'the step input');
        const agents = step.agents ?? ctx.agents.names().filter((a) => a !== step.agent);
        const schema = planSchema(agents, step.maxSteps);
        const request = requestOf(planner, buildMessages(input), ctx);
        // The compiled plan of the answer that passed, kept by the check (compiled once).
        let compiled: { steps: PlannedStep[]; children: ChildStep[] } | undefined;
        const problems = (value: Record<string, unknown>) => {
          const checked = checkPlan(deps.compilePlan, value, agents, step.maxSteps);
          if ('problems' in checked) return checked.problems;
          compiled = checked;
          return [];
        };
        const answer = await structuredCall(ctx.metered(deps.providerFor(planner)), request, schema, {
          tool: {
            name: PLAN_TOOL,
            description: `Give the plan: at most ${step.maxSteps} steps, each on one of these agents: ${agents.join(', ')}. Steps that do not depend on each other run in parallel.`,
          },
          check: problems,
          failure: 'the plan is invalid',
          keep: ctx,
          validator: deps.schemas,
        });
        const checked = compiled!;
        const children = checked.children.map((c) => ({
          ...c,
          id: `${step.id}.${c.id}`,
          dependsOn: c.dependsOn.map((d) => `${step.id}.${d}`),
          reads: c.dependsOn.map((d) => `${step.id}.${d}`),
        }));
        const made: PlanCheckpoint = { plan: 1, steps: checked.steps, children, model: answer.model, rounds: answer.rounds };
        // The plan is durable before any of its steps is added.
        await ctx.saveCheckpoint(made);
        ctx.progress({ planned: children.length, rounds: answer.rounds });
        return made;
      }
    },
  };
}

/** The plan's steps compiled (ids still local), or its problems. */
function checkPlan(
  compilePlan: CompilePlan,
  value: unknown,
  agents: string[],
  maxSteps: number,
): { steps: PlannedStep[]; children: ChildStep[] } | { problems: string[] } {
  const steps = (value as { steps: PlannedStep[] }).steps;
  try {
    const wf = compilePlan(
      { name: 'plan', steps: steps.map((s) => ({ id: s.id, agent: s.agent, input: { task: s.task }, dependsOn: s.dependsOn ?? [] })) },
      { agents, maxSteps },
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
