/**
 * The access log: every answer of 400 or more is one line naming the request, its status and
 * error code, and the caller when known; successful answers write none.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

const lines: Record<string, unknown>[] = [];
let h: Harness;

beforeAll(async () => {
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  h = await startHarness({ name: 'access-log', agents: { a: { provider: 'echo' } }, pools: false, logger: createLogger('info', { destination }) });
  // The harness polls /readyz until it answers 200: a 503 before that is rightly logged, and not this test's.
  lines.length = 0;
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

const answered = () => lines.filter((l) => l.msg === 'request answered');

it('writes one line for each 4xx, with its path (no query), status, code and caller, and none for a 2xx', async () => {
  expect((await h.request('GET', '/v1/runs?limit=5')).status).toBe(200);
  expect((await h.request('POST', '/v1/runs?token=not-logged', { agent: 'nobody', input: {} })).status).toBe(422);
  expect((await h.request('GET', '/v1/no-such-route')).status).toBe(404);
  const got = answered();
  expect(got.map((l) => [l.method, l.path, l.status, l.code])).toEqual([
    ['POST', '/v1/runs', 422, 'invalid_request'],
    ['GET', '/v1/no-such-route', 404, 'not_found'],
  ]);
  expect(got[0]).toMatchObject({ level: 30, workspace: 'default', credential: 'open:open', ms: expect.any(Number) });
  expect(JSON.stringify(lines)).not.toContain('not-logged');
});
