/**
 * What the built-in tools need from outside the step: where they keep what they are given (the
 * run store's work outputs and context drafts) and the store scope of a workspace (its cell's).
 * A built-in is a factory of the step it serves: `(ctx) => AgentTool`.
 */
import type { ExecutionContext } from '../../kinds/executor.js';
import type { ContextDrafts } from '../../store/context-drafts.js';
import type { Scope } from '../../store/scope.js';
import type { WorkOutputs } from '../../store/work-outputs.js';
import { issuesFromZod, type ZodLikeIssue } from '../../errors/index.js';
import type { AgentTool, ToolOutcome } from '../tool.js';

export interface BuiltinDeps {
  outputs: Pick<WorkOutputs, 'emit'>;
  drafts: Pick<ContextDrafts, 'put'>;
  /** The store scope of a workspace's runs (its cell's tag). */
  scopeOf: (workspace: string) => Scope;
}

/** A built-in tool for one step: given its execution context as the step begins a segment. */
export type BuiltinFactory = (ctx: ExecutionContext) => AgentTool;

/** An error the model is given, to decide what to do about. */
export const toolError = (content: string): ToolOutcome => ({ content, isError: true });

/** A tool's argument problems in one line, for the model. */
export const argsProblems = (tool: string, issues: readonly ZodLikeIssue[]): ToolOutcome =>
  toolError(
    `bad arguments for ${tool}: ${issuesFromZod(issues, { emptyPath: '(arguments)' })
      .map((i) => `${i.path} ${i.message}`)
      .join('; ')}`,
  );
