/**
 * Hardened input: helmet's headers on every answer, and configurable limits (forEach width,
 * loop iterations, one field's size, the body's size), each refusal a 4xx naming its limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    name: 'hardening',
    agents: { a: { provider: 'echo' } },
    pools: false,
    bodyLimit: '64kb',
    env: { SWITCHYARD_MAX_FOREACH_ITEMS: '50', SWITCHYARD_MAX_LOOP_ITERATIONS: '5', SWITCHYARD_MAX_FIELD_BYTES: '1000' },
  });
});
afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

const workflow = (step: Record<string, unknown>) => ({ workflow: { name: 'w', input: { xs: { type: 'array' } }, steps: [step] } });

describe('hardened input', () => {
  it('sends helmet security headers on API answers', async () => {
    const res = await h.request('GET', '/healthz');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('strict-transport-security')).toContain('max-age=');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('refuses a forEach wider than SWITCHYARD_MAX_FOREACH_ITEMS, naming it', async () => {
    const res = await h.request(
      'POST',
      '/v1/runs',
      workflow({ id: 'each', kind: 'forEach', items: '{{input.xs}}', maxItems: 51, step: { agent: 'a', input: { task: '{{item}}' } } }),
    );
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('SWITCHYARD_MAX_FOREACH_ITEMS');
    expect(res.body.error.issues[0].path).toContain('maxItems');
    const ok = await h.request(
      'POST',
      '/v1/workflows/validate',
      workflow({ id: 'each', kind: 'forEach', items: '{{input.xs}}', maxItems: 50, step: { agent: 'a', input: { task: '{{item}}' } } }).workflow,
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  it('refuses a loop of more iterations than SWITCHYARD_MAX_LOOP_ITERATIONS, naming it', async () => {
    const res = await h.request(
      'POST',
      '/v1/runs',
      workflow({ id: 'l', kind: 'loop', maxIterations: 6, body: { agent: 'a', input: { task: 'draft' } }, critic: { agent: 'a' } }),
    );
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('SWITCHYARD_MAX_LOOP_ITERATIONS');
  });

  it('refuses a field larger than SWITCHYARD_MAX_FIELD_BYTES, naming where, and a body larger than the body limit', async () => {
    const res = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'é'.repeat(600) } });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('input.task');
    expect(res.body.error.message).toContain('SWITCHYARD_MAX_FIELD_BYTES');
    const key = await h.request('POST', '/v1/runs', { agent: 'a', input: { task: 'x', context: { ['k'.repeat(1001)]: 1 } } });
    expect(key.status).toBe(422);
    expect(key.body.error.message).toContain('a key of 1001 bytes');
    const big = await h.request('POST', '/v1/runs', {
      agent: 'a',
      input: { task: 'x', context: { many: Array.from({ length: 200 }, () => 'y'.repeat(500)) } },
    });
    expect(big.status).toBe(413);
    expect(big.body.error.message).toContain('limit');
  });
});
