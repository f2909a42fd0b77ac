/**
 * Where a key lives. A **cell** is one hash tag (SWITCHYARD_PREFIX, `{sy}` by default): one Redis
 * Cluster slot with its own copy of the queues, so a run and its jobs never span slots. A
 * **scope** is a workspace within a cell: every run-level and workspace-level key is built from
 * one (see keys.ts), so a run is addressed by `(scope, runId)` and another workspace's run id is
 * simply not found. Cell-wide keys (queues, heartbeats, the outbox, the queued-runs set, the
 * cancel channel, provider limits) are built from the tag alone.
 *
 * A deployment has one cell or several (cells.ts places each workspace in one); the API picks a
 * request's scope in one place (src/api/scope.ts), the engine from a job's `workspaceId` and
 * the cell whose queue the job is in.
 */
import { DEFAULT_WORKSPACE, WorkspaceId } from '../model/run.js';

export { DEFAULT_WORKSPACE };

/** A cell: one hash tag, its keys in one Redis Cluster slot. */
export interface Cell {
  /** The BullMQ prefix every key of the cell starts with, a `{hash tag}`. */
  readonly tag: string;
}

/** A workspace within a cell: what run-level and workspace-level keys are built from. */
export interface Scope extends Cell {
  readonly workspace: string;
}

/** A run addressed across workspaces (a list of runs that need not share one scope). */
export interface ScopedRun {
  scope: Scope;
  runId: string;
}

/** The cell of a tag (SWITCHYARD_PREFIX). */
export const cellOf = (tag: string): Cell => ({ tag });

/**
 * The scope of `workspace` in `cell` (default: DEFAULT_WORKSPACE). Throws on a workspace id
 * that could not be a key part (it would name other keys).
 */
export function scopeOf(cell: Cell, workspace: string = DEFAULT_WORKSPACE): Scope {
  if (workspace !== DEFAULT_WORKSPACE && !WorkspaceId.safeParse(workspace).success) throw new Error(`"${workspace}" is not a workspace id`);
  return { tag: cell.tag, workspace };
}
