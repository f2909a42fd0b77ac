/** A single-agent task: a run of one step, whose definition follows from the run's record (it is not stored). */
import type { CompiledWorkflow } from '../kinds/definition.js';
import type { RunRecord } from '../model/run.js';
import type { StepRouting } from '../model/routing.js';

export const AGENT_WORKFLOW_PREFIX = 'agent/';

/** The workflow of a single-agent task: one step running `agent` on `input` (`routing`: how the agent was chosen by capability). */
export function agentTaskWorkflow(agent: string, input: { task: string; context?: Record<string, unknown> }, routing?: StepRouting): CompiledWorkflow {
  return {
    name: `${AGENT_WORKFLOW_PREFIX}${agent}`,
    description: `single ${agent} task`,
    input: {},
    steps: [
      {
        id: agent,
        kind: 'agent',
        agent,
        input,
        dependsOn: [],
        optional: false,
        allowSkippedDeps: false,
        literal: true,
        reads: [],
        ...(routing ? { routing } : {}),
      },
    ],
    output: [agent],
    source: 'agent',
  };
}

/** The definition a run executes: the one stored, or an agent task's, which its record gives. */
export function runDefinition(run: Pick<RunRecord, 'workflow' | 'input'>, stored: unknown): CompiledWorkflow | undefined {
  if (stored) return stored as CompiledWorkflow;
  if (run.workflow.startsWith(AGENT_WORKFLOW_PREFIX)) return agentTaskWorkflow(run.workflow.slice(AGENT_WORKFLOW_PREFIX.length), run.input as { task: string });
  return undefined;
}
