/**
 * The compact records a finished run's hash keeps (COMPACT_STEP_DOC, COMPACT_RUN_DOC, generated
 * in script.ts; written by both finishes, finishAlone.lua and finishRun.lua), against their
 * definition built here: the fields in the record's order, each as the JSON text it was given,
 * a missing or null one left out, the run id of a step and the output of a run never written.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_FIELDS, STEP_FIELDS } from '../../src/store/scripts/index.js';
import { luaSource } from '../../src/store/scripts/script.js';
import { newRedis } from '../helpers/redis.js';

/** A script (no keys) that writes ARGV's field, JSON-text pairs as the generated function does. */
const probe = (kind: 'STEP' | 'RUN', open = 'nil, nil') =>
  luaSource('probe', undefined, (dir, path) =>
    path === 'probe'
      ? `local given = {}
for i = 1, #ARGV, 2 do given[ARGV[i]] = ARGV[i + 1] end
return COMPACT_${kind}_DOC(given, ${open})`
      : readFileSync(new URL(`${path}.lua`, dir), 'utf8'),
  );

/** The compact record of `given` (field → JSON text), as defined above. */
function expected(fields: readonly string[], leaveOut: string, given: Record<string, string>): string {
  const kept = fields.filter((f) => f !== leaveOut && given[f] !== undefined && given[f] !== 'null');
  return `{${kept.map((f) => `"${f}":${given[f]}`).join(',')}}`;
}

const json = (v: unknown) => JSON.stringify(v);
let redis: Redis;

beforeAll(() => {
  redis = newRedis();
});

afterAll(async () => {
  await redis.quit();
});

/** The JSON texts of `fields`, and the generated function's record of them. */
async function written(source: string, fields: Record<string, unknown>): Promise<[Record<string, string>, string]> {
  const texts = Object.fromEntries(Object.entries(fields).map(([f, v]) => [f, v === undefined ? 'null' : json(v)]));
  return [texts, (await redis.eval(source, 0, ...Object.entries(texts).flat())) as string];
}

describe('a compact record written in one concatenation', () => {
  it("is a step's, whichever of its fields it has (null ones and its run id left out)", async () => {
    const source = probe('STEP');
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
      const [texts, generated] = await written(source, fields);
      expect(generated).toBe(expected(STEP_FIELDS, 'runId', texts));
      expect(JSON.parse(generated)).not.toHaveProperty('runId');
    }
  });

  it("is a run's (its output left out), with what `close` adds", async () => {
    const source = probe('RUN', `nil, ',"outputSteps":["one"]}'`);
    const full = Object.fromEntries(RUN_FIELDS.map((f, i) => [f, { field: f, n: i }]));
    for (const fields of [{ id: 'run_1' }, { id: 'run_1', status: 'succeeded', output: 'the answer', error: null, input: { task: 't' } }, full]) {
      const [texts, generated] = await written(source, fields);
      expect(generated).toBe(`${expected(RUN_FIELDS, 'output', texts).slice(0, -1)},"outputSteps":["one"]}`);
      expect(JSON.parse(generated)).not.toHaveProperty('output');
    }
  });

  it('goes between the `open` and `close` given', async () => {
    const [, generated] = await written(probe('STEP', "'[{', '}]'"), { stepId: 'one', status: 'succeeded' });
    expect(generated).toBe('[{"stepId":"one","status":"succeeded"}]');
  });
});
