/**
 * A workspace's caps on what it runs at once (docs/budgets-and-limits.md#fair-sharing-and-workspace-caps):
 * how many of its steps may call a provider at once, and how many of its runs may be running.
 * Excess waits, it is never refused. Each is the deployment's default
 * (SWITCHYARD_WORKSPACE_MAX_RUNNING_STEPS / _RUNS; unset: unlimited) unless an admin set the
 * workspace's own (PUT /v1/workspaces/:id/limits).
 */
import { z } from 'zod';

/** The largest cap that can be set (a cap above any real pool is no cap). */
export const MAX_WORKSPACE_CAP = 1_000_000;

const Cap = z.number().int().min(1).max(MAX_WORKSPACE_CAP);

/** The caps in force for a workspace: a number, or null (unlimited). */
export const WorkspaceCaps = z.object({
  /** Steps of the workspace calling a provider at once; more wait (`waitingFor: workspace_cap`). */
  maxRunningSteps: Cap.nullable(),
  /** Runs of the workspace running at once; more stay `queued` until one finishes. */
  maxRunningRuns: Cap.nullable(),
});
export type WorkspaceCaps = z.infer<typeof WorkspaceCaps>;
export type WorkspaceCapName = keyof WorkspaceCaps;

/**
 * The body of PUT /v1/workspaces/:id/limits: each cap given is the workspace's own (a number),
 * or back to the deployment's default (null); a cap not given is left as it is.
 */
export const WorkspaceLimitsUpdate = z.strictObject({
  maxRunningSteps: Cap.nullable().optional(),
  maxRunningRuns: Cap.nullable().optional(),
});
export type WorkspaceLimitsUpdate = z.infer<typeof WorkspaceLimitsUpdate>;

/** What GET and PUT /v1/workspaces/:id/limits answer: the caps in force, the workspace's own, and the defaults. */
export const WorkspaceLimitsView = z.object({
  workspace: z.string(),
  effective: WorkspaceCaps,
  /** The workspace's own caps (absent: the default holds). */
  own: WorkspaceCaps.partial(),
  defaults: WorkspaceCaps,
});
export type WorkspaceLimitsView = z.infer<typeof WorkspaceLimitsView>;
