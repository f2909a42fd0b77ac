/**
 * Output schemas a request brings: a backtracking pattern cannot freeze a worker (patterns run
 * on RE2), a pattern RE2 cannot run is refused naming it (at submit, and in the agents file), a
 * schema past the bounds is refused naming the limit before anything compiles it, and one
 * within them compiles off the event loop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { ConfigError } from '../../src/errors/index.js';
import { silentLogger } from '../../src/logger.js';
import { systemFromDefinitions } from '../../src/system-definitions.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { REDIS_URL, testPrefix } from '../helpers/redis.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'schemas',
    agents: { a: { provider: 'echo' }, slow: { provider: 'echo', echo: { latencyMs: 300 } } },
    bodyLimit: '1mb',
    // The compiles here must finish, however busy the machine (the limits are tested in lang/schema-checker).
    env: { SWITCHYARD_SCHEMA_TIMEOUT_MS: '120000', SWITCHYARD_SCHEMA_DEADLINE_MS: '120000' },
  });
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

/** A one-step workflow whose step answers with a structured object fitting `schema`. */
const shaped = (name: string, schema: Record<string, unknown>) => ({
  workflow: { name, steps: [{ id: 'shape', agent: 'a', input: { task: 'x' }, output: { schema } }] },
  input: {},
});

describe('patterns run on a linear-time engine', () => {
  it('a pattern that backtracks exponentially on the answer ends its step promptly, and other runs go on', async () => {
    // The echo answer is examples[0]: 30 a's then "!" takes a backtracking engine minutes per check.
    const schema = { type: 'object', properties: { v: { type: 'string', pattern: '^(a+)+$', examples: [`${'a'.repeat(30)}!`] } }, required: ['v'] };
    const evil = await h.request('POST', '/v1/runs', shaped('redos', schema));
    expect(evil.status, JSON.stringify(evil.body)).toBe(202);
    const other = await h.request('POST', '/v1/runs', { agent: 'slow', input: { task: 'unrelated' } });
    expect(other.status).toBe(202);
    // Generous: before the fix the worker's event loop froze for minutes here.
    const [bad, good] = await Promise.all([h.waitForRun(evil.body.id, 20_000), h.waitForRun(other.body.id, 20_000)]);
    expect(bad.status).toBe('failed');
    expect(bad.steps[0]!.error).toContain('must match pattern "^(a+)+$"');
    expect(good.status).toBe('succeeded');
  });

  it('an answer that fits a pattern is accepted', async () => {
    const schema = { type: 'object', properties: { v: { type: 'string', pattern: '^(?<word>[a-z]+)-\\d{2}$', examples: ['abc-12'] } }, required: ['v'] };
    const res = await h.request('POST', '/v1/runs', shaped('fits', schema));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.steps[0]!.output).toEqual({ v: 'abc-12' });
  });

  it('refuses at submit a pattern RE2 cannot run (lookaround, backreferences), naming it', async () => {
    for (const pattern of ['^(?=a)b', '(a)\\1']) {
      const schema = { type: 'object', properties: { v: { type: 'string', pattern } } };
      const res = await h.request('POST', '/v1/runs', shaped('lookaround', schema));
      expect(res.status, pattern).toBe(422);
      expect(res.body.error.issues[0].path).toBe('steps[0].output.schema');
      expect(res.body.error.message).toContain(`pattern ${JSON.stringify(pattern)} cannot be used`);
    }
    const keyed = { type: 'object', patternProperties: { '^(?!x)': { type: 'string' } } };
    const res = await h.request('POST', '/v1/workflows/validate', shaped('keyed', keyed).workflow);
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('pattern "^(?!x)" cannot be used');
  });

  it('refuses such a pattern in the agents file, naming it', () => {
    const config = loadConfig({ REDIS_URL, SWITCHYARD_PREFIX: testPrefix('schemas-agents') });
    const agents = { critic: { provider: 'echo', output: { schema: { type: 'object', properties: { v: { type: 'string', pattern: '(?<=a)b' } } } } } };
    expect(() => systemFromDefinitions({ config, agents, source: 'test', logger: silentLogger })).toThrow(ConfigError);
    expect(() => systemFromDefinitions({ config, agents, source: 'test', logger: silentLogger })).toThrow(/pattern "\(\?<=a\)b" cannot be used/);
  });
});

describe('schema size', () => {
  const properties = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { type: 'string' }]));

  it('refuses a schema of 5,000 properties with a 422 naming the limit, before compiling it', async () => {
    const res = await h.request('POST', '/v1/runs', shaped('wide', { type: 'object', properties: properties(5000) }));
    expect(res.status).toBe(422);
    expect(res.body.error.issues[0].path).toBe('steps[0].output.schema');
    expect(res.body.error.message).toMatch(/SWITCHYARD_MAX_SCHEMA_(CHARS|KEYWORDS)/);
    // Short enough, but too many keys (2,100 properties and their types).
    const many = await h.request('POST', '/v1/runs', shaped('many', { type: 'object', properties: properties(2100) }));
    expect(many.status).toBe(422);
    expect(many.body.error.message).toContain('more than 2000 keywords and property names; at most 2000 (SWITCHYARD_MAX_SCHEMA_KEYWORDS)');
    const long = await h.request('POST', '/v1/workflows/validate', shaped('long', { type: 'object', description: 'x'.repeat(70_000) }).workflow);
    expect(long.status).toBe(422);
    expect(long.body.error.message).toContain('SWITCHYARD_MAX_SCHEMA_CHARS');
  });

  it('refuses a oneOf or anyOf wider than the bound with a 422 naming it (1,400 branches compiled for 1.3 s)', async () => {
    const oneOf = Array.from({ length: 1400 }, (_, i) => ({ required: [`k${i}`] }));
    const res = await h.request('POST', '/v1/workflows/validate', shaped('wide-oneof', { type: 'object', properties: { a: { oneOf } } }).workflow);
    expect(res.status).toBe(422);
    expect(res.body.error.issues[0].path).toBe('steps[0].output.schema');
    expect(res.body.error.message).toContain('has a oneOf of 1400 branches; at most 128 (SWITCHYARD_MAX_SCHEMA_BRANCHES)');
    const anyOf = await h.request('POST', '/v1/workflows/validate', shaped('wide-anyof', { type: 'object', anyOf: oneOf.slice(0, 129) }).workflow);
    expect(anyOf.status).toBe(422);
    expect(anyOf.body.error.message).toContain('SWITCHYARD_MAX_SCHEMA_BRANCHES');
  });

  it('compiles a schema within the bounds off the event loop: the API answers meanwhile', async () => {
    // Many oneOfs of the most branches allowed (ajv's code for each grows with the square of its branches): about half a second.
    const properties = Object.fromEntries(
      Array.from({ length: 15 }, (_, p) => [`p${p}`, { oneOf: Array.from({ length: 128 }, (_, i) => ({ required: [`k${p}_${i}`] })) }]),
    );
    const order: string[] = [];
    let done = false;
    const compiling = h.request('POST', '/v1/workflows/validate', shaped('slow-compile', { type: 'object', properties }).workflow).then((r) => {
      done = true;
      order.push('compiled');
      return r;
    });
    // Health checks one after the other while it compiles: they answer only while the loop is free.
    while (!done) {
      const health = await h.request('GET', '/healthz');
      expect(health.status).toBe(200);
      if (!done) order.push('healthz');
    }
    const res = await compiling;
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
    expect(order[0]).toBe('healthz');
    expect(order.at(-1)).toBe('compiled');
  });
});

describe('$async schemas', () => {
  it('are refused at submit naming $async, and no other request meanwhile answers 500 (the thread was killed under them)', async () => {
    const schema = { type: 'object', $async: true, required: ['a'], properties: { b: { type: 'string', examples: ['no a'] } } };
    const others = Array.from({ length: 30 }, (_, i) =>
      h.request('POST', '/v1/workflows/validate', shaped(`other-${i}`, { type: 'object', properties: { [`f${i}`]: { type: 'string' } } }).workflow),
    );
    const runs = await Promise.all(Array.from({ length: 5 }, () => h.request('POST', '/v1/runs', shaped('async', schema))));
    for (const res of runs) {
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body.error.issues[0].path).toBe('steps[0].output.schema');
      expect(res.body.error.message).toContain('"$async"');
    }
    expect((await Promise.all(others)).map((r) => r.status)).toEqual(others.map(() => 200));
  });
});

describe('a schema checker that cannot take the work', () => {
  it('answers 503 naming why, never 500 (a closed checker threw a plain error)', async () => {
    const own = await startHarness({ name: 'schemas-closed', agents: { a: { provider: 'echo' } }, pools: false });
    try {
      await own.system.schemas.close();
      const res = await own.request('POST', '/v1/workflows/validate', shaped('closed', { type: 'object', properties: { a: { type: 'string' } } }).workflow);
      expect(res.status).toBe(503);
      expect(res.body.error.message).toContain('the schema checker is closed');
    } finally {
      await own.close();
    }
  });
});
