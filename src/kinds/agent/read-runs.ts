/**
 * The orchestrator's `read_runs` tool: recent finished runs of its workspace with their
 * outputs, newest first, so a model can use fresh work instead of repeating it. Offered when
 * the step's orchestration allows it and whoever builds the executors gives a ReadRuns.
 */
import { z } from 'zod';
import type { ToolCall, ToolDefinition, ToolResult } from '../../calls/provider.js';
import type { ExecutionContext } from '../executor.js';
import { describeArgsIssues } from '../shared/tool-calls.js';

/** A recent run as `read_runs` shows it to the model. */
export interface RecentRun {
  id: string;
  workflow: string;
  status: string;
  agents: string[];
  finishedAt: string | null;
  output: unknown;
}

/** Recent runs of a workspace, newest first (the `read_runs` tool). */
export type ReadRuns = (query: { workspaceId: string; agent?: string; workflow?: string; limit: number }) => Promise<RecentRun[]>;

export const READ_RUNS_TOOL = 'read_runs';
/** How much of a run's output `read_runs` shows (characters of its JSON). */
const READ_RUNS_OUTPUT_CHARS = 4000;

const ReadRunsArgs = z.object({
  agent: z.string().optional(),
  workflow: z.string().optional(),
  maxAgeMinutes: z.number().positive().optional(),
  limit: z.number().int().min(1).max(20).default(5),
});

/** The answer to a `read_runs` call (bad arguments: a tool error for the model). */
export async function readRuns(read: ReadRuns, ctx: Pick<ExecutionContext, 'workspaceId' | 'runId'>, c: ToolCall): Promise<ToolResult> {
  const args = ReadRunsArgs.safeParse(c.input ?? {});
  if (!args.success) return { toolCallId: c.id, content: `bad arguments for ${READ_RUNS_TOOL}: ${describeArgsIssues(args.error.issues, '')}`, isError: true };
  const { agent, workflow, maxAgeMinutes, limit } = args.data;
  const since = maxAgeMinutes !== undefined ? Date.now() - maxAgeMinutes * 60_000 : undefined;
  const runs = (await read({ workspaceId: ctx.workspaceId, limit: limit + 1, ...(agent ? { agent } : {}), ...(workflow ? { workflow } : {}) }))
    .filter((r) => r.id !== ctx.runId && (since === undefined || (r.finishedAt !== null && Date.parse(r.finishedAt) >= since)))
    .slice(0, limit)
    .map((r) => ({ ...r, ageMinutes: r.finishedAt ? Math.round((Date.now() - Date.parse(r.finishedAt)) / 60_000) : null, output: clip(r.output) }));
  return { toolCallId: c.id, content: JSON.stringify(runs) };
}

function clip(output: unknown): unknown {
  const text = typeof output === 'string' ? output : JSON.stringify(output ?? null);
  return text.length > READ_RUNS_OUTPUT_CHARS ? `${text.slice(0, READ_RUNS_OUTPUT_CHARS)}... (${text.length} characters)` : output;
}

export function readRunsTool(agents: string[]): ToolDefinition {
  return {
    name: READ_RUNS_TOOL,
    description: 'Recent finished runs of this workspace with their outputs, newest first: use recent work instead of repeating it when it is fresh enough.',
    inputSchema: {
      type: 'object',
      properties: {
        agent: { type: 'string', enum: agents, description: 'only runs that used this agent' },
        workflow: { type: 'string', description: 'only runs of this workflow (an agent task is "agent/<name>")' },
        maxAgeMinutes: { type: 'number', description: 'only runs finished at most this long ago' },
        limit: { type: 'integer', minimum: 1, maximum: 20, description: 'most runs to return (default 5)' },
      },
    },
  };
}
