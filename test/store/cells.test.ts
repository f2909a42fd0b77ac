/**
 * Where a workspace lives: cell 0 keeps SWITCHYARD_PREFIX (a one-cell deployment's keys do not
 * change), the other cells' tags are derived from it, a workspace's cell is stable (a hash of
 * its id, or its pin), and the settings are checked against each other at start.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { ConfigError } from '../../src/errors/index.js';
import { CellMap, cellTag, hashedCell } from '../../src/store/cells.js';
import { keys } from '../../src/store/keys.js';

describe('cells', () => {
  it('cell 0 is the prefix itself, so one cell keeps every key as it was; the others are derived from it', () => {
    expect([0, 1, 2].map((i) => cellTag('{sy}', i))).toEqual(['{sy}', '{sy-1}', '{sy-2}']);
    expect(cellTag('plain', 2)).toBe('plain-2');
    const one = new CellMap({ prefix: '{sy}' });
    expect(keys.run(one.scopeOf('acme'), 'run_1')).toBe('{sy}:ws:acme:run:run_1');
    expect(one.global).toEqual({ tag: '{sy}' });
  });

  it('places a workspace by a stable hash of its id, the default workspace in cell 0, a pinned one where it is pinned', () => {
    const cells = new CellMap({ prefix: '{sy}', count: 3, pinned: { acme: 2 } });
    expect(cells.indexOf('acme')).toBe(2);
    expect(cells.indexOf('default')).toBe(0);
    for (const ws of ['beta', 'gamma', 'delta']) {
      expect(cells.indexOf(ws)).toBe(hashedCell(ws, 3));
      expect(new CellMap({ prefix: '{sy}', count: 3 }).scopeOf(ws)).toEqual(cells.scopeOf(ws));
    }
    const spread = new Set(Array.from({ length: 30 }, (_, i) => cells.indexOf(`ws-${i}`)));
    expect(spread).toEqual(new Set([0, 1, 2]));
    expect(cells.global.tag).toBe('{sy}');
    expect(cells.indexOfTag('{sy-2}')).toBe(2);
  });

  it('reads SWITCHYARD_CELLS, SWITCHYARD_CELL_OF, SWITCHYARD_SERVE_CELLS and REDIS_CLUSTER_NODES, and names the variable that does not fit', () => {
    expect(loadConfig({}).cells).toEqual({ clusterNodes: undefined, count: 1, pinned: {}, serve: undefined });
    expect(
      loadConfig({
        SWITCHYARD_CELLS: '3',
        SWITCHYARD_CELL_OF: 'acme=2, beta=0',
        SWITCHYARD_SERVE_CELLS: '2,0',
        REDIS_CLUSTER_NODES: '10.0.0.1:7000,redis-b:7001',
      }).cells,
    ).toEqual({
      clusterNodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-b', port: 7001 },
      ],
      count: 3,
      pinned: { acme: 2, beta: 0 },
      serve: [0, 2],
    });
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused({ SWITCHYARD_CELLS: '2', SWITCHYARD_CELL_OF: 'acme=2' })).toMatch(/SWITCHYARD_CELL_OF: acme=2 names no cell \(SWITCHYARD_CELLS is 2/);
    expect(refused({ SWITCHYARD_CELLS: '2', SWITCHYARD_SERVE_CELLS: '1,3' })).toMatch(/SWITCHYARD_SERVE_CELLS: 3 names no cell/);
    expect(refused({ SWITCHYARD_CELLS: '0' })).toMatch(/SWITCHYARD_CELLS/);
    expect(refused({ REDIS_CLUSTER_NODES: 'localhost' })).toMatch(/REDIS_CLUSTER_NODES/);
    expect(refused({ REDIS_CLUSTER_NODES: 'a:1', SWITCHYARD_PREFIX: 'sy' })).toMatch(/SWITCHYARD_PREFIX: must be a \{hash tag\}/);
  });
});
