/**
 * Where the deployment's Redis is and how its workspaces are spread: a Redis Cluster's nodes
 * (REDIS_CLUSTER_NODES, instead of REDIS_URL), the number of cells (SWITCHYARD_CELLS), the
 * workspaces pinned to a cell (SWITCHYARD_CELL_OF) and the cells a process serves
 * (SWITCHYARD_SERVE_CELLS). Part of the environment schema (env.ts spreads them in). See
 * docs/scaling.md.
 */
import { z } from 'zod';
import { emptyToUndefined } from './parse.js';

/** The most cells a deployment may have (each is one copy of every queue). */
export const MAX_CELLS = 64;

const hostPort = z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'must be host:port');
const list = (v: unknown) =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : v;
const cellIndex = z.coerce
  .number()
  .int()
  .min(0)
  .max(MAX_CELLS - 1);

const CellsEnvSchema = z.object({
  /** A Redis Cluster's nodes, `host:port,host:port,...` (some of them are enough): every connection becomes a cluster one. */
  REDIS_CLUSTER_NODES: z.preprocess(
    (v) => (v === '' || v === undefined ? undefined : list(v)),
    z.array(hostPort).min(1, 'must name at least one host:port').optional(),
  ),
  /** How many cells the workspaces are spread over (each a hash tag derived from SWITCHYARD_PREFIX). */
  SWITCHYARD_CELLS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(MAX_CELLS).default(1)),
  /** Workspaces placed by hand, `acme=2,beta=0` (the others by a hash of their id). */
  SWITCHYARD_CELL_OF: z.preprocess(
    (v) => (v === '' || v === undefined ? [] : list(v)),
    z.array(z.string().regex(/^[^=\s]+=\d+$/, 'must be workspace=cell, e.g. acme=2')),
  ),
  /** The cells this process's workers serve, `0,2` (default: every cell). */
  SWITCHYARD_SERVE_CELLS: z.preprocess((v) => (v === '' || v === undefined ? undefined : list(v)), z.array(cellIndex).min(1).optional()),
});

/** The deployment's cells variables, for the environment schema. */
export const CELLS_ENV = CellsEnvSchema.shape;

/** Where Redis is and how workspaces are spread over cells. */
export interface CellsConfig {
  /** The Redis Cluster's nodes (cluster mode), or undefined (one Redis at REDIS_URL). */
  clusterNodes: { host: string; port: number }[] | undefined;
  /** SWITCHYARD_CELLS. @default 1 */
  count: number;
  /** Workspaces pinned to a cell (SWITCHYARD_CELL_OF). @default none */
  pinned: Record<string, number>;
  /** The cells this process's workers serve (SWITCHYARD_SERVE_CELLS). @default every cell */
  serve: number[] | undefined;
}

/** The cells settings, checked against each other; a message naming the variable when they disagree. */
export function cellsConfigOf(e: z.infer<typeof CellsEnvSchema>): CellsConfig | string {
  const pinned: Record<string, number> = {};
  for (const entry of e.SWITCHYARD_CELL_OF) {
    const [ws, cell] = entry.split('=') as [string, string];
    if (Number(cell) >= e.SWITCHYARD_CELLS)
      return `SWITCHYARD_CELL_OF: ${ws}=${cell} names no cell (SWITCHYARD_CELLS is ${e.SWITCHYARD_CELLS}: 0 to ${e.SWITCHYARD_CELLS - 1})`;
    pinned[ws] = Number(cell);
  }
  const outside = e.SWITCHYARD_SERVE_CELLS?.find((i) => i >= e.SWITCHYARD_CELLS);
  if (outside !== undefined)
    return `SWITCHYARD_SERVE_CELLS: ${outside} names no cell (SWITCHYARD_CELLS is ${e.SWITCHYARD_CELLS}: 0 to ${e.SWITCHYARD_CELLS - 1})`;
  return {
    clusterNodes: e.REDIS_CLUSTER_NODES?.map((n) => {
      const i = n.lastIndexOf(':');
      return { host: n.slice(0, i), port: Number(n.slice(i + 1)) };
    }),
    count: e.SWITCHYARD_CELLS,
    pinned,
    serve: e.SWITCHYARD_SERVE_CELLS ? [...new Set(e.SWITCHYARD_SERVE_CELLS)].sort((a, b) => a - b) : undefined,
  };
}
