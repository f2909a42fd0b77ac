/**
 * The outbound client against a real local server: what it sends (JSON body, query string,
 * Idempotency-Key), which answers it tries again (network errors, 5xx, 429 with Retry-After)
 * and which not (4xx), the byte cap, timeouts, cancellation, and that an error never shows a
 * header value or a secret.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError } from '../../src/errors/index.js';
import { createOutbound, OutboundNetworkError } from '../../src/net/outbound.js';
import { json, startTestServer, type TestServer } from '../helpers/http-server.js';

const outbound = createOutbound({ egress: { production: false, allow: [] }, backoffMs: 5, maxWaitMs: 2000 });

describe('outbound HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());
  afterEach(() => {
    server.received.length = 0;
  });

  it('sends a JSON body with Idempotency-Key and reads back the JSON answer', async () => {
    server.handle((req, res) => json(res, 201, { got: JSON.parse(req.body) as unknown }, { 'x-trace': 't1' }));
    const res = await outbound({
      url: `${server.url}/orders`,
      method: 'POST',
      headers: { Authorization: 'Bearer s3cr3t' },
      body: { sku: 'a', n: 2 },
      idempotencyKey: 'r1.s1.1.c1',
    });
    expect(res).toMatchObject({ status: 201, body: { got: { sku: 'a', n: 2 } }, truncated: false, attempts: 1 });
    expect(res.headers['x-trace']).toBe('t1');
    const [sent] = server.received;
    expect(sent).toMatchObject({ method: 'POST', url: '/orders' });
    expect(sent!.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': 'r1.s1.1.c1', authorization: 'Bearer s3cr3t' });
  });

  it('sends a GET’s arguments as its query string, after the URL’s own', async () => {
    server.handle((_req, res) => res.end('plain text'));
    const res = await outbound({ url: `${server.url}/search?lang=en`, method: 'GET', body: { q: 'a b', n: 3, tags: ['x', 'y'], f: { k: 1 } } });
    expect(res.body).toBe('plain text');
    expect(server.received[0]!.url).toBe('/search?lang=en&q=a+b&n=3&tags=x&tags=y&f=%7B%22k%22%3A1%7D');
    expect(server.received[0]!.body).toBe('');
  });

  it('tries a 5xx again with the same Idempotency-Key until it succeeds', async () => {
    server.handle((_req, res, nth) => (nth < 3 ? json(res, 503, { error: 'busy' }) : json(res, 200, { ok: true })));
    const res = await outbound({ url: `${server.url}/flaky`, method: 'POST', body: {}, idempotencyKey: 'k-1', attempts: 3 });
    expect(res).toMatchObject({ status: 200, body: { ok: true }, attempts: 3 });
    expect(server.received.map((r) => r.headers['idempotency-key'])).toEqual(['k-1', 'k-1', 'k-1']);
  });

  it('returns the last 5xx when the tries run out', async () => {
    server.handle((_req, res) => json(res, 500, { error: 'down' }));
    const res = await outbound({ url: `${server.url}/down`, method: 'POST', body: {}, attempts: 2 });
    expect(res).toMatchObject({ status: 500, body: { error: 'down' }, attempts: 2 });
    expect(server.received).toHaveLength(2);
  });

  it('does not try a 4xx again', async () => {
    server.handle((_req, res) => json(res, 404, { error: 'no such order' }));
    const res = await outbound({ url: `${server.url}/orders/9`, method: 'GET', attempts: 5 });
    expect(res).toMatchObject({ status: 404, body: { error: 'no such order' }, attempts: 1 });
    expect(server.received).toHaveLength(1);
  });

  it('waits a 429’s Retry-After, and returns at once a 429 asking longer than the bound', async () => {
    server.handle((_req, res, nth) => (nth === 1 ? json(res, 429, {}, { 'retry-after': '1' }) : json(res, 200, { ok: 1 })));
    const started = Date.now();
    const res = await outbound({ url: `${server.url}/limited`, method: 'GET', attempts: 3 });
    expect(res).toMatchObject({ status: 200, attempts: 2 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);

    server.received.length = 0;
    server.handle((_req, res) => json(res, 429, { error: 'quota' }, { 'retry-after': '3600' }));
    const long = await outbound({ url: `${server.url}/quota`, method: 'GET', attempts: 3 });
    expect(long).toMatchObject({ status: 429, attempts: 1 });
    expect(server.received).toHaveLength(1);
  });

  it('cuts a body past maxBytes and says so', async () => {
    server.handle((_req, res) => json(res, 200, { data: 'x'.repeat(10_000) }));
    const res = await outbound({ url: `${server.url}/big`, method: 'GET', maxBytes: 100 });
    expect(res.truncated).toBe(true);
    expect(typeof res.body).toBe('string');
    expect(Buffer.byteLength(res.body as string)).toBe(100);
  });

  it('tries a timeout again, then fails naming it, without a header value or a secret in the message', async () => {
    server.handle(() => undefined); // never answers
    const err = await outbound({
      url: `${server.url}/slow/tok-123?key=tok-123`,
      method: 'POST',
      headers: { authorization: 'Bearer hdr-secret' },
      body: { a: 1 },
      timeoutMs: 200,
      attempts: 2,
      redact: ['tok-123'],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundNetworkError);
    expect((err as Error).message).toBe(`POST ${server.url}/slow/[secret]: no answer within 200 ms (after 2 tries)`);
    expect(String((err as Error).stack)).not.toMatch(/hdr-secret|tok-123/);
    expect(server.received).toHaveLength(2);
  });

  it('tries a refused connection again, then fails naming the network error', async () => {
    const gone = await startTestServer();
    await gone.close();
    const err = await outbound({ url: `${gone.url}/x`, method: 'GET', attempts: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundNetworkError);
    expect((err as Error).message).toBe(`GET ${gone.url}/x: ECONNREFUSED (after 2 tries)`);
  });

  it('stops at once when the caller’s signal aborts', async () => {
    server.handle(() => undefined);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const err = await outbound({ url: `${server.url}/hang`, method: 'GET', timeoutMs: 10_000, attempts: 5, signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(server.received).toHaveLength(1);
  });

  it('follows a redirect, keeping credentials only on the same origin', async () => {
    const other = await startTestServer();
    try {
      other.handle((_req, res) => json(res, 200, { where: 'other' }));
      server.handle((req, res) => {
        if (req.url === '/a') return void res.writeHead(307, { location: '/b' }).end();
        if (req.url === '/b') return void res.writeHead(302, { location: `${other.url}/c` }).end();
        json(res, 500, {});
      });
      const res = await outbound({ url: `${server.url}/a`, method: 'POST', headers: { authorization: 'Bearer x' }, body: { v: 1 }, idempotencyKey: 'k' });
      expect(res).toMatchObject({ status: 200, body: { where: 'other' } });
      expect(server.received.map((r) => [r.method, r.url, r.headers.authorization, r.body])).toEqual([
        ['POST', '/a', 'Bearer x', '{"v":1}'],
        ['POST', '/b', 'Bearer x', '{"v":1}'],
      ]);
      expect(other.received.map((r) => [r.method, r.url, r.headers.authorization, r.headers['idempotency-key'], r.body])).toEqual([
        ['GET', '/c', undefined, 'k', ''],
      ]);
    } finally {
      await other.close();
    }
  });

  it('returns a redirect whose Location is no URL as it is', async () => {
    server.handle((_req, res) => void res.writeHead(302, { location: 'http://[bad' }).end('moved'));
    expect(await outbound({ url: `${server.url}/r`, method: 'GET' })).toMatchObject({ status: 302, body: 'moved', attempts: 1 });
  });

  it('refuses a header value with a line break, naming the header and not its value', async () => {
    const err = await outbound({ url: `${server.url}/x`, method: 'GET', headers: { 'x-api-key': 'abc\r\nx-injected: 1' } }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`GET ${server.url}/x: the header "x-api-key" cannot be sent (a bad name, or a line break in its value)`);
    expect(server.received).toHaveLength(0);
  });

  it('names a bad URL without repeating it', async () => {
    await expect(outbound({ url: 'not a url sk-live', method: 'GET' })).rejects.toThrow(/^GET: the URL is not a valid absolute URL$/);
  });
});
