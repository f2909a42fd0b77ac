/**
 * The simulator's own limits and injected errors, as a client sees them: the providers'
 * rate-limit headers counting down, a 429 with Retry-After past the limit, error rates drawn
 * from a seed, and the counters at GET /stats.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import type { SimConfigInput } from '../../src/simulator/config.js';

const open: Simulator[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
async function sim(config: SimConfigInput): Promise<Simulator> {
  const s = await startSimulator({ port: 0, ...config });
  open.push(s);
  return s;
}

const openaiBody = (model = 'gpt-sim', content = 'hi') => JSON.stringify({ model, messages: [{ role: 'user', content }] });
const post = (s: Simulator, body: string) =>
  fetch(`${s.openaiBaseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

describe('rpm and tpm', () => {
  it('counts remaining requests down in OpenAI’s headers, then answers 429 with Retry-After, per model', async () => {
    const s = await sim({ rpm: 3 });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await post(s, openaiBody()));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(answers.map((r) => r.headers.get('x-ratelimit-remaining-requests'))).toEqual(['2', '1', '0', '0']);
    expect(answers.every((r) => r.headers.get('x-ratelimit-limit-requests') === '3')).toBe(true);
    // A duration as OpenAI writes it, up to a full minute's refill.
    expect(answers[2]!.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+(\.\d+)?s|1m0s)$/);
    const refused = answers[3]!;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({
      error: { type: 'requests', code: 'rate_limit_exceeded', message: expect.stringContaining('3 requests per minute') },
    });
    // Another model has its own bucket.
    expect((await post(s, openaiBody('gpt-other'))).headers.get('x-ratelimit-remaining-requests')).toBe('2');
  });

  it('sends Anthropic’s headers (RFC 3339 resets) and its rate_limit_error, which the SDK reads', async () => {
    const s = await sim({ rpm: 2, tpm: 10_000 });
    const client = new Anthropic({ apiKey: 'sk-ant-sim', baseURL: s.anthropicBaseURL, maxRetries: 0 });
    const params = { model: 'claude-sim', max_tokens: 50, messages: [{ role: 'user' as const, content: 'hi' }] };
    const first = await client.messages.create(params).withResponse();
    const h = first.response.headers;
    expect(h.get('anthropic-ratelimit-requests-limit')).toBe('2');
    expect(h.get('anthropic-ratelimit-requests-remaining')).toBe('1');
    expect(Date.parse(h.get('anthropic-ratelimit-requests-reset')!)).toBeGreaterThan(Date.now());
    expect(h.get('anthropic-ratelimit-requests-reset')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const used = first.data.usage.input_tokens + first.data.usage.output_tokens;
    expect(h.get('anthropic-ratelimit-tokens-remaining')).toBe(String(10_000 - used));
    await client.messages.create(params);
    const err = await client.messages.create(params).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect((err as { headers: Headers }).headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('holds only bucketSeconds of the limit at once: rpm 120 over a bucket of 1 s lets 2 through, and says when the next fits', async () => {
    const s = await sim({ rpm: 120, bucketSeconds: 1 });
    const answers = [await post(s, openaiBody()), await post(s, openaiBody()), await post(s, openaiBody())];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(answers[0]!.headers.get('x-ratelimit-limit-requests')).toBe('120');
    expect(Number(answers[2]!.headers.get('retry-after-ms'))).toBeLessThanOrEqual(500);
    expect(answers[2]!.headers.get('retry-after')).toBe('1');
  });

  it('refuses a request that finds too few tokens left, naming the tpm limit', async () => {
    const s = await sim({ tpm: 60, outputTokens: 20 });
    const answers = [await post(s, openaiBody()), await post(s, openaiBody()), await post(s, openaiBody())];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(await answers[2]!.json()).toMatchObject({ error: { type: 'tokens', message: expect.stringContaining('60 tokens per minute') } });
    expect(s.stats().errors).toEqual({ tpmLimit: 1 });
  });
});

describe('injected errors', () => {
  const rates = { rateLimit: 0.2, server: 0.2, badRequest: 0.1, overloaded: 0.1, quota: 0.1 };
  const statuses = async (s: Simulator, n: number) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await post(s, openaiBody())).status);
    return out;
  };

  it('draws the same errors for the same seed, and about the configured share', async () => {
    const [a, b, c] = await Promise.all([42, 42, 43].map(async (seed) => statuses(await sim({ seed, errors: rates }), 60)));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const share = (code: number) => a!.filter((x) => x === code).length / a!.length;
    // 429: rate limits and OpenAI's insufficient_quota; 503: overloaded.
    expect(share(200)).toBeGreaterThan(0.15);
    expect(share(200)).toBeLessThan(0.5);
    for (const code of [429, 500, 400, 503]) expect(share(code)).toBeGreaterThan(0.02);
  });

  it('gives the same answers (words, sizes, ids) for the same seed', async () => {
    const answers = async (seed: number) => {
      const s = await sim({ seed, outputTokens: 'normal:20:60' });
      return [await (await post(s, openaiBody())).json(), await (await post(s, openaiBody())).json()].map((b: any) => [b.id, b.choices[0].message.content]);
    };
    const [a, b, c] = [await answers(9), await answers(9), await answers(10)];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('speaks each kind in the API’s own shape: 529 overloaded_error, billing_error, insufficient_quota, with Retry-After', async () => {
    const only = (kind: keyof typeof rates) => sim({ errors: { [kind]: 1 }, retryAfterSeconds: 7 });
    const anthropicErr = async (s: Simulator) =>
      new Anthropic({ apiKey: 'k', baseURL: s.anthropicBaseURL, maxRetries: 0 }).messages
        .create({ model: 'claude-sim', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
        .then(() => ({ status: 200, headers: new Headers() }))
        .catch((e: unknown) => e as { status: number; headers: Headers });
    const openaiErr = async (s: Simulator) =>
      new OpenAI({ apiKey: 'k', baseURL: s.openaiBaseURL, maxRetries: 0 }).chat.completions
        .create({ model: 'gpt-sim', messages: [{ role: 'user', content: 'x' }] })
        .then(() => ({ status: 200, headers: new Headers() }))
        .catch((e: unknown) => e as { status: number; headers: Headers });
    const overloaded = await anthropicErr(await only('overloaded'));
    expect(overloaded).toMatchObject({ status: 529, type: 'overloaded_error' });
    expect(overloaded.headers.get('retry-after')).toBe('7');
    expect(await anthropicErr(await only('quota'))).toMatchObject({ status: 402, type: 'billing_error' });
    expect(await openaiErr(await only('quota'))).toMatchObject({ status: 429, code: 'insufficient_quota' });
    expect(await openaiErr(await only('rateLimit'))).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    expect(await openaiErr(await only('badRequest'))).toMatchObject({ status: 400, type: 'invalid_request_error' });
    expect(await anthropicErr(await only('server'))).toMatchObject({ status: 500, type: 'api_error' });
  });
});

describe('GET /stats', () => {
  it('counts requests, answers, streams, tokens and errors, in all and by model and API; DELETE starts again', async () => {
    const s = await sim({ rpm: 2, outputTokens: 10 });
    await post(s, openaiBody('gpt-a'));
    await post(s, openaiBody('gpt-a'));
    await post(s, openaiBody('gpt-a')); // over the rpm
    await post(s, '{"model":"gpt-a","messages":[]}'); // a bad request
    const streamed = await fetch(`${s.anthropicBaseURL}/v1/messages`, {
      method: 'POST',
      body: JSON.stringify({ model: 'claude-b', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await streamed.text();
    const stats: any = await (await fetch(`${s.url}/stats`)).json();
    expect(stats).toMatchObject({ requests: 5, answered: 3, streamed: 1, errors: { rpmLimit: 1, invalidRequest: 1 }, byApi: { openai: 4, anthropic: 1 } });
    expect(stats.tokens.output).toBeGreaterThanOrEqual(30);
    expect(stats.byModel['gpt-a']).toMatchObject({ requests: 4, answered: 2, errors: { rpmLimit: 1, invalidRequest: 1 } });
    expect(stats.byModel['claude-b']).toMatchObject({ requests: 1, answered: 1, streamed: 1 });
    const reset = await (await fetch(`${s.url}/stats`, { method: 'DELETE' })).json();
    expect(reset).toMatchObject({ requests: 0, byModel: {} });
  });
});
