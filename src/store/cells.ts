/**
 * The deployment's cells and where each workspace lives. Cell 0's tag is SWITCHYARD_PREFIX
 * itself (`{sy}`), so a one-cell deployment's keys are exactly those of a deployment without
 * cells; cell i's is derived from it (`{sy-1}`, `{sy-2}`, ...). A workspace is in the cell it is
 * pinned to (SWITCHYARD_CELL_OF), else the `default` workspace is in cell 0 and any other in the
 * cell a hash of its id picks (stable across processes and restarts; it changes only with the
 * number of cells). Cell 0's tag is also the **global slot**: what every cell shares (provider
 * limits, pauses, breakers, API keys, sessions, the audit log) is kept there, so adding cells
 * moves none of it. See docs/scaling.md.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_WORKSPACE } from '../model/run.js';
import { cellOf, scopeOf, type Cell, type Scope } from './scope.js';

export interface CellMapOptions {
  /** SWITCHYARD_PREFIX: cell 0's tag. */
  prefix: string;
  /** How many cells. @default 1 */
  count?: number;
  /** Workspaces pinned to a cell. @default none */
  pinned?: Readonly<Record<string, number>>;
}

/** Cell i's tag: the prefix for cell 0, then `{sy-1}` from `{sy}` (or `sy-1` from a prefix without braces). */
export function cellTag(prefix: string, index: number): string {
  if (index === 0) return prefix;
  const braced = /^\{(.+)\}$/.exec(prefix);
  return braced ? `{${braced[1]}-${index}}` : `${prefix}-${index}`;
}

/** The cell a workspace id hashes to among `count` (the first 4 bytes of its SHA-256, modulo). */
export function hashedCell(workspace: string, count: number): number {
  return createHash('sha256').update(workspace).digest().readUInt32BE(0) % count;
}

export class CellMap {
  /** Every cell, by index. */
  readonly cells: readonly Cell[];
  /** Where what every cell shares is kept (cell 0's tag). */
  readonly global: Cell;
  private readonly pinned: Readonly<Record<string, number>>;

  constructor(opts: CellMapOptions) {
    const count = opts.count ?? 1;
    this.cells = Array.from({ length: count }, (_, i) => cellOf(cellTag(opts.prefix, i)));
    this.global = this.cells[0]!;
    this.pinned = opts.pinned ?? {};
  }

  /** The index of a workspace's cell. */
  indexOf(workspace: string): number {
    const pinned = this.pinned[workspace];
    if (pinned !== undefined) return pinned;
    if (workspace === DEFAULT_WORKSPACE || this.cells.length === 1) return 0;
    return hashedCell(workspace, this.cells.length);
  }

  /** The cell a workspace lives in. */
  cellOf(workspace: string): Cell {
    return this.cells[this.indexOf(workspace)]!;
  }

  /** A workspace's scope, in its cell (throws on an id that could not be a key part, as scopeOf). */
  scopeOf(workspace: string = DEFAULT_WORKSPACE): Scope {
    return scopeOf(this.cellOf(workspace), workspace);
  }

  /** The index of the cell whose tag is `tag` (-1: none of this deployment's). */
  indexOfTag(tag: string): number {
    return this.cells.findIndex((c) => c.tag === tag);
  }
}
