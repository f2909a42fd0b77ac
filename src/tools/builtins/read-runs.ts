/**
 * The built-in `read_runs`: recent finished runs of the step's workspace with their outputs,
 * newest first, so a model can use fresh work instead of repeating it. Offered to an agent that
 * lists it, and to an orchestrator whose orchestration allows it (`readRuns`), when whoever
 * builds the executors gives a ReadRuns.
 */
import { z } from 'zod';
import type { ToolDefinition } from '../../calls/provider.js';
import { READ_RUNS_TOOL } from '../../model/tool.js';
import { issuesFromZod } from '../../errors/index.js';
import type { ToolOutcome } from '../tool.js';
import type { BuiltinTool, ToolContext } from '../toolbox.js';

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

/** How much of a run's output `read_runs` shows (characters of its JSON). */
const READ_RUNS_OUTPUT_CHARS = 4000;

const ReadRunsArgs = z.object({
  agent: z.string().optional(),
  workflow: z.string().optional(),
  maxAgeMinutes: z.number().positive().optional(),
  limit: z.number().int().min(1).max(20).default(5),
});

/** `read_runs` made for each step from `read` (how runs are listed). */
export function readRunsBuiltin(read: ReadRuns): BuiltinTool {
  return (ctx) => ({
    definition: readRunsDefinition(ctx.agentNames),
    kind: 'builtin',
    needsApproval: () => false,
    call: (args) => readRuns(read, ctx, args),
  });
}

/** The answer to a `read_runs` call (bad arguments: a tool error for the model). */
export async function readRuns(read: ReadRuns, ctx: Pick<ToolContext, 'workspaceId' | 'runId'>, input: unknown): Promise<ToolOutcome> {
  const args = ReadRunsArgs.safeParse(input ?? {});
  if (!args.success) {
    const issues = issuesFromZod(args.error.issues, { emptyPath: '' }).map((i) => `${i.path} ${i.message}`);
    return { content: `bad arguments for ${READ_RUNS_TOOL}: ${issues.join('; ')}`, isError: true };
  }
  const { agent, workflow, maxAgeMinutes, limit } = args.data;
  const since = maxAgeMinutes !== undefined ? Date.now() - maxAgeMinutes * 60_000 : undefined;
  const runs = (await read({ workspaceId: ctx.workspaceId, limit: limit + 1, ...(agent ? { agent } : {}), ...(workflow ? { workflow } : {}) }))
    .filter((r) => r.id !== ctx.runId && (since === undefined || (r.finishedAt !== null && Date.parse(r.finishedAt) >= since)))
    .slice(0, limit)
    .map((r) => ({ ...r, ageMinutes: r.finishedAt ? Math.round((Date.now() - Date.parse(r.finishedAt)) / 60_000) : null, output: clip(r.output) }));
  return { content: JSON.stringify(runs) };
}

function clip(output: unknown): unknown {
  const text = typeof output === 'string' ? output : JSON.stringify(output ?? null);
  return text.length > READ_RUNS_OUTPUT_CHARS ? `${text.slice(0, READ_RUNS_OUTPUT_CHARS)}... (${text.length} characters)` : output;
}

export function readRunsDefinition(agents: readonly string[]): ToolDefinition {
  return {
    name: READ_RUNS_TOOL,
    description: 'Recent finished runs of this workspace with their outputs, newest first: use recent work instead of repeating it when it is fresh enough.',
    inputSchema: {
      type: 'object',
      properties: {
        agent: { type: 'string', enum: [...agents], description: 'only runs that used this agent' },
        workflow: { type: 'string', description: 'only runs of this workflow (an agent task is "agent/<name>")' },
        maxAgeMinutes: { type: 'number', description: 'only runs finished at most this long ago' },
        limit: { type: 'integer', minimum: 1, maximum: 20, description: 'most runs to return (default 5)' },
      },
    },
  };
}
