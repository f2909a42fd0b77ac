/**
 * How a script's includes are inlined (luaSource): each once at the top level, its own includes
 * first; one inside a block (indented) is the block's, inlined there with what the top level
 * has not inlined before it, and not counted as inlined after the block. The constants a script
 * names (not in a comment) are made at its top, or at the start of the block whose includes
 * alone name them.
 */
import { describe, expect, it } from 'vitest';
import { luaSource } from '../../src/store/scripts/script.js';
import { LOST_STEP_ERROR } from '../../src/model/run.js';

/** Sources by path: includes/<name> for an include; `main` for the script. */
const files: Record<string, string> = {
  'includes/a': '--@include b\nA\n',
  'includes/b': 'B\n',
  'includes/c': '--@include a\nC\n',
  'includes/d': '--@include b\nD\n',
  'includes/e': 'E = LOST_ERROR\n',
  'includes/f': '--@include e\nF = COMPACT_MAX_STEPS\n',
};
const LOST = `local LOST_ERROR = ${JSON.stringify(LOST_STEP_ERROR)}`;

/** The script's source, its lines that are not blank (an include keeps its line's end). */
const source = (main: string) =>
  luaSource('main', undefined, (_dir, path) => (path === 'main' ? main : files[path]!))
    .split('\n')
    .filter((line) => line !== '')
    .join('\n') + '\n';

describe('luaSource', () => {
  it('inlines each include once at the top level, its own includes first', () => {
    expect(source('--@include a\n--@include b c\nX\n')).toBe('B\nA\nC\nX\n');
  });

  it("inlines a block's include in the block with what the top level has not inlined before it", () => {
    expect(source('--@include b\nif x then\n  --@include a\n  X\nend\n')).toBe('B\nif x then\nA\n  X\nend\n');
  });

  it('inlines the names of one block include together, each once', () => {
    expect(source('if x then\n  --@include a d\nend\n')).toBe('if x then\nB\nA\nD\nend\n');
  });

  it("does not count a block's includes as inlined after it", () => {
    expect(source('if x then\n  --@include a\nend\n--@include c\nY\n')).toBe('if x then\nB\nA\nend\nB\nA\nC\nY\n');
  });

  it('inlines the same include in two blocks, each its own', () => {
    expect(source('if x then\n  --@include b\nend\nif y then\n  --@include b\nend\n')).toBe('if x then\nB\nend\nif y then\nB\nend\n');
  });

  it('makes the constants the top level names at the top, and none a comment only names', () => {
    expect(source('-- COMPACT_MAX_STEPS\n--@include e\nX = 1 -- TERMINAL\n')).toBe(`${LOST}\n-- COMPACT_MAX_STEPS\nE = LOST_ERROR\nX = 1 -- TERMINAL\n`);
  });

  it("makes a constant that only a block's includes name at the block's start, each block its own", () => {
    expect(source('if x then\n  --@include f\nend\nif y then\n  --@include e\nend\n')).toBe(
      `if x then\n${LOST}\nlocal COMPACT_MAX_STEPS = 100\nE = LOST_ERROR\nF = COMPACT_MAX_STEPS\nend\nif y then\n${LOST}\nE = LOST_ERROR\nend\n`,
    );
  });

  it('makes a constant the top level names once, at the top, though a block names it too', () => {
    expect(source('X = LOST_ERROR\nif x then\n  --@include f\nend\n')).toBe(
      `${LOST}\nX = LOST_ERROR\nif x then\nlocal COMPACT_MAX_STEPS = 100\nE = LOST_ERROR\nF = COMPACT_MAX_STEPS\nend\n`,
    );
  });
});
