/**
 * What the built-in tools need from outside the step: where they keep what they are given (the
 * run store's work outputs and context drafts) and the store scope of a workspace (its cell's).
 * A built-in is a factory of the step it serves: `(ctx) => AgentTool`.
 */
import type { Bounds } from '../../config/env.js';
import type { PublishFields } from '../../model/step.js';
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

/**
 * What a built-in reads of the step it is made for, beside what each call's ToolCallScope says
 * (run, step, workspace, turn, call). A step's ExecutionContext has all of it; the tool loop's
 * context for its toolbox passes these on.
 */
export interface BuiltinStep {
  /** The attempt that runs the step: what a built-in keeps is kept only while the step runs it. */
  attempt: number;
  /** SWITCHYARD_MAX_OUTPUT_BYTES: all of a run's outputs, all of a step's context values, at most this. */
  bounds: Pick<Bounds, 'maxOutputBytes'>;
  /** What the step may publish into its run's context (its compiled `publish`); null or absent: nothing. */
  publishes?: PublishFields | null;
}

/** A built-in tool, made for one step. */
export type BuiltinFactory = (ctx: BuiltinStep) => AgentTool;

/** An error the model is given, to decide what to do about. */
export const toolError = (content: string): ToolOutcome => ({ content, isError: true });

/** A tool's argument problems in one line, for the model. */
export const argsProblems = (tool: string, issues: readonly ZodLikeIssue[]): ToolOutcome =>
  toolError(
    `bad arguments for ${tool}: ${issuesFromZod(issues, { emptyPath: '(arguments)' })
      .map((i) => `${i.path} ${i.message}`)
      .join('; ')}`,
  );
