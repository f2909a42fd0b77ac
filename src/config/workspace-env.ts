/**
 * The default caps of every workspace (src/model/workspace-limits.ts): unset, unlimited. An
 * admin sets one workspace's own over the API. Part of the environment schema (env.ts spreads them in).
 */
import { z } from 'zod';
import { MAX_WORKSPACE_CAP, type WorkspaceCaps } from '../model/workspace-limits.js';
import { emptyToUndefined } from './parse.js';

const cap = z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(MAX_WORKSPACE_CAP).optional());

const WorkspaceEnvSchema = z.object({
  /** Steps of one workspace calling a provider at once (more wait, holding no worker slot); unset: unlimited. */
  SWITCHYARD_WORKSPACE_MAX_RUNNING_STEPS: cap,
  /** Runs of one workspace running at once (more stay queued until one finishes); unset: unlimited. */
  SWITCHYARD_WORKSPACE_MAX_RUNNING_RUNS: cap,
});

/** The workspace caps' variables, for the environment schema. */
export const WORKSPACE_ENV = WorkspaceEnvSchema.shape;

export function workspaceCapsOf(e: z.infer<typeof WorkspaceEnvSchema>): WorkspaceCaps {
  return { maxRunningSteps: e.SWITCHYARD_WORKSPACE_MAX_RUNNING_STEPS ?? null, maxRunningRuns: e.SWITCHYARD_WORKSPACE_MAX_RUNNING_RUNS ?? null };
}
