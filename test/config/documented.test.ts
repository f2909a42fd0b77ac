/**
 * Every setting is documented: each variable the environment schema reads has a row in the
 * configuration table of docs/operations.md, and the table names no variable that is not read.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvSchema } from '../../src/config/env.js';

const page = readFileSync(path.resolve(import.meta.dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
const table = page.slice(page.indexOf('## Configuration'), page.indexOf('\n## ', page.indexOf('## Configuration') + 1));
const documented = [...table.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!);

describe('the configuration table of docs/operations.md', () => {
  it('has a row for every variable the environment schema reads', () => {
    expect(documented.length).toBeGreaterThan(0);
    expect(Object.keys(EnvSchema.shape).filter((v) => !documented.includes(v))).toEqual([]);
  });

  it('names no variable the schema does not read', () => {
    expect(documented.filter((v) => !(v in EnvSchema.shape))).toEqual([]);
  });
});
