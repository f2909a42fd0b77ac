/**
 * The compact records a single-step run's finish writes in one concatenation each
 * (COMPACT_STEP_DOC, COMPACT_RUN_DOC, generated in script.ts) are, text for text, those docOf.lua
 * assembles field by field for the general finish: the same fields in the same order, a missing
 * or null one left out, the run id of a step and the output of a run never written.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_FIELDS, STEP_FIELDS } from '../../src/store/scripts/index.js';
import { luaSource } from '../../src/store/scripts/script.js';
import { newRedis } from '../helpers/redis.js';

/** A script (no keys) that writes ARGV's field, JSON-text pairs both ways: {generated, docOf's}. */
const probe = (kind: 'STEP' | 'RUN', leaveOut: string, open = 'nil, nil', around = ['', '']) =>
  luaSource('probe', undefined, (dir, path) =>
    path === 'probe'
      ? `--@include docOf
--@include mapOf
local m = mapOf(ARGV)
return { COMPACT_${kind}_DOC(m, ${open}), '${around[0]}' .. docFromMap(${kind}_FIELDS, m, { ${leaveOut} = true }) .. '${around[1]}' }`
      : readFileSync(new URL(`${path}.lua`, dir), 'utf8'),
  );

const json = (v: unknown) => JSON.stringify(v);
let redis: Redis;

beforeAll(() => {
  redis = newRedis();
});

afterAll(async () => {
  await redis.quit();
});

async function both(source: string, fields: Record<string, unknown>): Promise<[string, string]> {
  const args = Object.entries(fields).flatMap(([f, v]) => [f, v === undefined ? 'null' : json(v)]);
  return (await redis.eval(source, 0, ...args)) as [string, string];
}

describe('a compact record written in one concatenation', () => {
  it("is a step's as docOf writes it, whichever of its fields it has (null ones and its run id left out)", async () => {
    const source = probe('STEP', 'runId');
    const full = Object.fromEntries(STEP_FIELDS.map((f, i) => [f, { field: f, n: i, text: 'a "quoted" \\ text' }]));
    const cases: Record<string, unknown>[] = [
      { stepId: 'one' },
      { runId: 'run_1', stepId: 'one', kind: 'agent', status: 'succeeded', dependsOn: [], optional: false, output: null, parent: undefined },
      {
        stepId: 'one',
        output: '',
        usage: { inputTokens: 1 },
        debug: { attempt: 1 },
        routing: [1, 2],
        errorClass: null,
        written: '1:abc',
        checkpoint: { x: 1 },
      },
      full,
      // The order of the hash's fields is not the record's.
      Object.fromEntries(Object.entries(full).reverse()),
    ];
    for (const fields of cases) {
      const [generated, assembled] = await both(source, fields);
      expect(generated).toBe(assembled);
      expect(JSON.parse(generated)).not.toHaveProperty('runId');
    }
  });

  it("is a run's as docOf writes it (its output left out), with what `close` adds", async () => {
    const source = probe('RUN', 'output', `nil, ',"outputSteps":["one"]}'`);
    const full = Object.fromEntries(RUN_FIELDS.map((f, i) => [f, { field: f, n: i }]));
    for (const fields of [{ id: 'run_1' }, { id: 'run_1', status: 'succeeded', output: 'the answer', error: null, input: { task: 't' } }, full]) {
      const [generated, assembled] = await both(source, fields);
      expect(generated).toBe(`${assembled.slice(0, -1)},"outputSteps":["one"]}`);
      expect(JSON.parse(generated)).not.toHaveProperty('output');
    }
  });

  it('goes between the `open` and `close` given', async () => {
    const [generated, assembled] = await both(probe('STEP', 'runId', "'[{', '}]'", ['[', ']']), { stepId: 'one', status: 'succeeded' });
    expect(generated).toBe(assembled);
    expect(generated).toBe('[{"stepId":"one","status":"succeeded"}]');
  });
});
