/**
 * The shared limiter (src/calls/admission): requests, tokens and calls at once per provider and model
 * (and per API key), reservations settled with the real usage, pauses after a 429, and the
 * circuit breaker, on the real Redis; then end to end: two agent queues in two processes on
 * one model never exceed its limit, and a step that waits for capacity keeps its attempt.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { LimitPlan, RedisLimiter, type LimiterAnswer, type Ticket } from '../../src/calls/admission/limiter.js';
import { ProviderLimits } from '../../src/model/provider-limits.js';
import { budgetReserve, budgetSettle, holdsRelease } from '../../src/store/scripts/index.js';
import { keys, stepJobId } from '../../src/store/keys.js';
import { cellOf, scopeOf } from '../../src/store/scope.js';
import { AdmittedProvider } from '../../src/calls/admission/admission.js';
import { LimitsGate } from '../../src/calls/admission/limits-gate.js';
import { spentUntil } from '../../src/calls/admission/pause.js';
import { CapacityWaitError, RateLimitedError } from '../../src/errors/index.js';
import { pino } from 'pino';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EchoProvider } from '../../src/calls/vendors/echo/adapter.js';
import { silentLogger } from '../../src/logger.js';
import { parseDuration } from '../../src/calls/rate-headers.js';
import { anthropicCapacity } from '../../src/calls/vendors/anthropic/rate-headers.js';
import { openaiCapacity } from '../../src/calls/vendors/openai/rate-headers.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { REDIS_URL, cleanupPrefix, newRedis, testPrefix } from '../helpers/redis.js';
import { killAllWorkerProcesses, startWorkerProcess } from '../helpers/worker-process.js';
import { ownRedis } from '../helpers/redis-server.js';
import { poll } from '../helpers/poll.js';
import { finishRun, stepFailedEnding, type RunEnding } from '../../src/flow/finish-run.js';
import { nodeArgs } from '../helpers/node-entry.js';

let redis: Redis;
const prefix = testPrefix('limits');
/** The runs of this file's scripts (their holds are kept under their run's keys). */
const runScope = scopeOf(cellOf(prefix));
const limiterFor = (providers: Record<string, unknown>, on: Redis = redis) =>
  new RedisLimiter(on, prefix, new LimitPlan(Object.fromEntries(Object.entries(providers).map(([k, v]) => [k, ProviderLimits.parse(v)]))));
const target = (model = 'gpt-x', apiKey?: string) => ({ provider: 'openai' as const, model, ...(apiKey ? { apiKey } : {}) });
const ticketOf = (a: LimiterAnswer): Ticket => {
  if (!a.granted) throw new Error(`not admitted: ${a.scope} ${a.why}`);
  return a.ticket;
};

beforeAll(() => {
  redis = newRedis();
});

/**
 * The keys under this file's prefix that a script touched without being given them, while `fn`
 * ran (read from MONITOR: each script's EVAL or EVALSHA with its keys, then the commands it made).
 * On a Redis of its own: MONITOR on the shared one would slow it for every other client, and
 * read their traffic too.
 */
async function undeclaredKeys(fn: (on: Redis) => Promise<void>): Promise<string[]> {
  const server = await ownRedis();
  const on = newRedis(server.url);
  const monitor = await newRedis(server.url).monitor();
  let declared = new Set<string>();
  const undeclared = new Set<string>();
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const [command = '', ...rest] = args;
    if (/^eval(sha)?$/i.test(command)) declared = new Set(rest.slice(2, 2 + Number(rest[1])));
    else if (source === 'lua' && rest[0]?.startsWith(prefix) && !declared.has(rest[0])) undeclared.add(`${command} ${rest[0]}`);
  });
  try {
    await fn(on);
    // MONITOR's lines come a moment after the replies, in the order the commands ran: once it
    // shows a marker sent after them, it has shown them all.
    const marker = `${prefix}:monitor-marker`;
    const seen = new Promise<void>((resolve) => monitor.on('monitor', (_time: string, args: string[]) => args[1] === marker && resolve()));
    await on.echo(marker);
    await seen;
  } finally {
    monitor.disconnect();
    await on.quit();
    await server.destroy();
  }
  return [...undeclared];
}
afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

describe('rate-limit headers', () => {
  it('reads OpenAI’s and Anthropic’s remaining capacity and reset times', () => {
    expect(parseDuration('6m0s')).toBe(360_000);
    expect(parseDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseDuration('20ms')).toBe(20);
    expect(parseDuration('soon')).toBeUndefined();
    expect(
      openaiCapacity(
        new Headers({
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-remaining-tokens': '1200',
          'x-ratelimit-reset-requests': '2s',
          'x-ratelimit-reset-tokens': '500ms',
        }),
      ),
    ).toEqual({
      remainingRequests: 0,
      remainingTokens: 1200,
      requestsResetMs: 2000,
      tokensResetMs: 500,
    });
    const reset = new Date(Date.now() + 30_000).toISOString();
    const anthropic = anthropicCapacity(
      new Headers({
        'anthropic-ratelimit-requests-remaining': '5',
        'anthropic-ratelimit-input-tokens-remaining': '800',
        'anthropic-ratelimit-output-tokens-remaining': '300',
        'anthropic-ratelimit-tokens-reset': reset,
      }),
    )!;
    expect(anthropic).toMatchObject({ remainingRequests: 5, remainingTokens: 300 });
    expect(anthropic.tokensResetMs).toBeGreaterThan(28_000);
    expect(openaiCapacity(new Headers({ 'content-type': 'application/json' }))).toBeUndefined();
    expect(anthropicCapacity(new Headers({ 'content-type': 'application/json' }))).toBeUndefined();
    // Held back when no request is left, or fewer tokens than a call like this one needs.
    expect(spentUntil({ remainingRequests: 0, requestsResetMs: 2000 }, 10)).toBeGreaterThan(Date.now() + 1500);
    expect(spentUntil({ remainingTokens: 50, tokensResetMs: 1000 }, 100)).toBeGreaterThan(Date.now() + 500);
    expect(spentUntil({ remainingRequests: 3, remainingTokens: 5000 }, 100)).toBeUndefined();
  });
});

describe('RedisLimiter', () => {
  it('holds requests per minute per model, on top of the provider’s own limit, spread evenly (no burst of a whole minute)', async () => {
    const limiter = limiterFor({ openai: { rpm: 240, models: { 'gpt-r': { rpm: 2 } } } });
    await limiter.acquire(target('gpt-r'), 1, 60_000).then(ticketOf);
    const second = await limiter.acquire(target('gpt-r'), 1, 60_000);
    expect(second).toMatchObject({ granted: false, scope: 'openai/gpt-r', why: 'rpm', never: false });
    // GCRA: two a minute is one every half minute.
    expect(second.granted === false && second.waitMs).toBeGreaterThan(29_000);
    // 240 a minute is one every 250 ms, spaced evenly (the provider's share of gpt-r's one was taken).
    const next = await limiter.acquire(target('gpt-other'), 1, 60_000);
    expect(next).toMatchObject({ granted: false, scope: 'openai', why: 'rpm' });
    expect(next.granted === false && next.waitMs).toBeLessThanOrEqual(250);
  });

  it('books the turn of a call refused for the rate under its call key: back early it waits for its turn, at its turn it goes uncounted', async () => {
    const limiter = limiterFor({ openai: { models: { 'gpt-book': { rpm: 300 } } } }); // one call every 200 ms
    const scope = `${prefix}:limit:openai/gpt-book:bookings`;
    await limiter.acquire(target('gpt-book'), 1, 60_000, 'a').then(ticketOf);
    const b = await limiter.acquire(target('gpt-book'), 1, 60_000, 'b');
    const c = await limiter.acquire(target('gpt-book'), 1, 60_000, 'c');
    // Refused together, they come back one after the other, each told its own turn.
    expect(b).toMatchObject({ granted: false, why: 'rpm', booked: true });
    expect(c).toMatchObject({ granted: false, why: 'rpm', booked: true });
    const [bWait, cWait] = [b, c].map((x) => (x.granted ? 0 : x.waitMs));
    expect(bWait).toBeGreaterThan(150);
    expect(cWait! - bWait!).toBeGreaterThan(150);
    expect(await redis.zrange(scope, '0', '-1')).toEqual(['b', 'c']);
    // Back before its turn (the second one's, not just the next), `c` is told to wait for it;
    // nothing is booked again, nothing moves.
    const early = await limiter.acquire(target('gpt-book'), 1, 60_000, 'c');
    expect(early).toMatchObject({ granted: false, booked: true });
    expect(early.granted === false && early.waitMs).toBeLessThanOrEqual(cWait!);
    expect(early.granted === false && early.waitMs).toBeGreaterThan(cWait! - 100);
    // A call without a booking comes after both.
    const d = await limiter.acquire(target('gpt-book'), 1, 60_000);
    expect(d.granted === false && d.waitMs).toBeGreaterThan(cWait! + 150);
    await new Promise((r) => setTimeout(r, bWait! + 5));
    await limiter.acquire(target('gpt-book'), 1, 60_000, 'b').then(ticketOf);
    expect(await redis.zrange(scope, '0', '-1')).toEqual(['c']);
    // A booking whose call never comes back (its run ended) is dropped ten minutes after its turn.
    await redis.zadd(scope, Date.now() - 700_000, 'gone');
    await limiter.acquire(target('gpt-book'), 1, 60_000, 'e');
    expect(await redis.zrange(scope, '0', '-1')).toEqual(['c', 'e']);
  });

  it('books a turn in every scope that limits requests, not in one that limits only tokens; and not beyond bookWithinMs', async () => {
    // Per key, on keys of their own: the provider's scopes are this test's alone.
    const bookings = (scope: string) => redis.zrange(`${prefix}:limit:${scope}:bookings`, '0', '-1');
    const providerOf = (a: LimiterAnswer) => (a as { scope: string }).scope.split('/')[0]!;
    // The provider limits tokens only; model x: one call a second.
    const tokensOnly = limiterFor({ openai: { tpm: 600_000, perKey: true, models: { 'gpt-bx': { rpm: 60 } } } });
    await tokensOnly.acquire(target('gpt-bx', 'sk-tokens'), 1, 60_000, 'x1').then(ticketOf);
    const x2 = await tokensOnly.acquire(target('gpt-bx', 'sk-tokens'), 1, 60_000, 'x2');
    expect(x2).toMatchObject({ granted: false, scope: expect.stringMatching(/^openai#[0-9a-f]{12}\/gpt-bx$/), booked: true });
    expect(x2.granted === false && x2.waitMs).toBeGreaterThan(900);
    expect(await bookings(providerOf(x2))).toEqual([]);
    // Model y goes at once: the turn booked on x holds nothing back in the provider's tokens.
    await tokensOnly.acquire(target('gpt-by', 'sk-tokens'), 1, 60_000, 'y1').then(ticketOf);

    // The provider limits requests too (one every 100 ms): the turn is held there as well, and
    // the calls after it come after it.
    const both = limiterFor({ openai: { rpm: 600, perKey: true, models: { 'gpt-bx': { rpm: 60 } } } });
    await both.acquire(target('gpt-bx', 'sk-both'), 1, 60_000, 'x1').then(ticketOf);
    const x2b = await both.acquire(target('gpt-bx', 'sk-both'), 1, 60_000, 'x2');
    expect(x2b).toMatchObject({ granted: false, booked: true });
    expect(await bookings(providerOf(x2b))).toEqual(['x2']);
    const y = await both.acquire(target('gpt-by', 'sk-both'), 1, 60_000, 'y1');
    expect(y.granted === false && y.waitMs).toBeGreaterThan(900);

    // A caller with a fallback books no turn further than it would wait.
    const spill = limiterFor({ openai: { perKey: true, models: { 'gpt-bx': { rpm: 60 } } } });
    await spill.acquire(target('gpt-bx', 'sk-spill'), 1, 60_000, 'x1').then(ticketOf);
    const refused = await spill.acquire(target('gpt-bx', 'sk-spill'), 1, 60_000, 'x2', 100);
    expect(refused).toMatchObject({ granted: false, why: 'rpm', booked: false });
    expect(await bookings((refused as { scope: string }).scope)).toEqual([]);
    // Not counted either: the next caller's turn is the same.
    const next = await spill.acquire(target('gpt-bx', 'sk-spill'), 1, 60_000, 'x3');
    expect(next.granted === false && next.waitMs).toBeLessThanOrEqual(1000);
  });

  it('releases the turns a run booked: the arrival time they pushed is given back, and a moment they leave free goes to the next call', async () => {
    const limiter = limiterFor({ openai: { models: { 'gpt-gap': { rpm: 600 } } } }); // one call every 100 ms
    const scope = `${prefix}:limit:openai/gpt-gap`;
    const holder = (runId: string, stepId: string) => ({ runId, workspaceId: 'default', tag: prefix, stepId, attempt: 1 });
    await limiter.acquire(target('gpt-gap'), 1, 60_000).then(ticketOf);
    // Run x books five turns (100 to 500 ms), run y one after them (600 ms), run z one more (700 ms).
    for (let i = 1; i <= 5; i++)
      expect(await limiter.acquire(target('gpt-gap'), 1, 60_000, `x${i}`, -1, holder('run-x', `s${i}`))).toMatchObject({ booked: true });
    const y = await limiter.acquire(target('gpt-gap'), 1, 60_000, 'y1', -1, holder('run-y', 's1'));
    const z = await limiter.acquire(target('gpt-gap'), 1, 60_000, 'z1', -1, holder('run-z', 's1'));
    expect([y, z].map((a) => !a.granted && a.waitMs > 500)).toEqual([true, true]);
    // Run z ends: its turn, the last, is given back with the arrival time it pushed.
    const tatBefore = Number(await redis.hget(scope, 'tatReq'));
    expect(await holdsRelease(redis, runScope, 'run-z')).toBe(1);
    expect(Number(await redis.hget(scope, 'tatReq'))).toBeCloseTo(tatBefore - 100, 0);
    // Run x ends: its five turns are free; y keeps its own.
    expect(await holdsRelease(redis, runScope, 'run-x')).toBe(5);
    expect(await redis.zrange(`${scope}:bookings`, '0', '-1')).toEqual(['y1']);
    expect(await redis.exists(keys.runHolds(runScope, 'run-x'))).toBe(0);
    // A call arriving in the moment x left free goes at once, not after y's turn.
    await new Promise((r) => setTimeout(r, 150));
    await limiter.acquire(target('gpt-gap'), 1, 60_000).then(ticketOf);
    // One right after it is spaced as ever: it waits, behind y's turn.
    const after = await limiter.acquire(target('gpt-gap'), 1, 60_000);
    expect(after.granted === false && after.waitMs).toBeGreaterThan(300);
  });

  it('a run’s holds outlive every reservation, lease and turn in them: a turn booked or a lease taken later never shortens their life', async () => {
    const runId = 'run-long-lease';
    const holds = keys.runHolds(runScope, runId);
    await redis.hset(keys.run(runScope, runId), 'budget', JSON.stringify({ maxTokens: 10_000 }));
    // A step with a two-hour timeout reserves: its lease lives two hours.
    const twoHours = 2 * 3600_000;
    expect(
      await budgetReserve(redis, runScope, runId, { tokens: 100, costUsd: 0, owner: { stepId: 's1', attempt: 1 }, lease: 'r1', leaseMs: twoHours }),
    ).toEqual({
      refused: '',
      held: [],
    });
    expect(await redis.pttl(holds)).toBeGreaterThan(twoHours - 60_000);
    // Another step of the run books a turn, and a third takes a calls-at-once lease.
    const limiter = limiterFor({ openai: { models: { 'gpt-long': { rpm: 1, maxConcurrent: 5 } } } });
    const holder = (stepId: string) => ({ runId, workspaceId: 'default', tag: prefix, stepId, attempt: 1 });
    await limiter.acquire(target('gpt-long'), 1, 60_000, 'first', -1, holder('s2')).then(ticketOf);
    expect(await limiter.acquire(target('gpt-long'), 1, 60_000, 'second', -1, holder('s3'))).toMatchObject({ booked: true });
    expect(await redis.pttl(holds)).toBeGreaterThan(twoHours - 60_000);
    // The reservation is still there to be given back when its call settles.
    expect(
      await budgetSettle(
        redis,
        runScope,
        runId,
        { tokens: 100, costUsd: 0, owner: { stepId: 's1', attempt: 1 }, lease: 'r1', leaseMs: twoHours },
        { tokens: 0, costUsd: 0 },
      ),
    ).toEqual({ exceeded: '', warnings: [] });
    expect(Number(await redis.hget(keys.run(runScope, runId), 'reservedTokens'))).toBe(0);
  });

  it('touches only the keys its scripts are given: admitting, settling, reserving (against the run’s budget and its envelope) and releasing a run’s holds (declared keys, as a Redis Cluster needs)', async () => {
    const runId = 'run-declared';
    const holder = (stepId: string) => ({ runId, workspaceId: 'default', tag: prefix, stepId, attempt: 1 });
    const undeclared = await undeclaredKeys(async (on) => {
      const limiter = limiterFor({ openai: { models: { 'gpt-decl': { rpm: 1, maxConcurrent: 5 } } } }, on);
      await on.hset(keys.run(runScope, runId), 'budget', JSON.stringify({ maxTokens: 10_000 }));
      // The workspace's spend envelope holds the reservations too (released with the run's holds, or settled).
      await on.set(keys.envelope(runScope), JSON.stringify({ maxTokensPerDay: 10_000 }));
      const envelopes = { day: '2026-01-01', resetsAt: '2026-01-02T00:00:00.000Z' };
      await budgetReserve(on, runScope, runId, { tokens: 10, costUsd: 0, owner: { stepId: 's1', attempt: 1 }, lease: 'r1', leaseMs: 60_000, envelopes });
      const settled = { tokens: 10, costUsd: 0, owner: { stepId: 's4', attempt: 1 }, lease: 'r2', leaseMs: 60_000, envelopes };
      expect((await budgetReserve(on, runScope, runId, settled)).held).toEqual([undefined]);
      await budgetSettle(on, runScope, runId, { ...settled, held: [undefined] }, { tokens: 3, costUsd: 0 });
      const t = await limiter.acquire(target('gpt-decl'), 1, 60_000, 'd1', -1, holder('s1')).then(ticketOf);
      expect(await limiter.acquire(target('gpt-decl'), 1, 60_000, 'd2', -1, holder('s2'))).toMatchObject({ booked: true });
      await limiter.settle(t, { result: 'ok', usedTokens: 1 });
      // One step's holds (cancelled), then the rest (the run ended).
      expect(await holdsRelease(on, runScope, runId, { steps: ['s2'] })).toBe(1);
      expect(await limiter.acquire(target('gpt-decl'), 1, 60_000, 'd3', -1, holder('s3'))).toMatchObject({ booked: true });
      expect(await holdsRelease(on, runScope, runId)).toBe(2);
      expect(await on.zrange(`${prefix}:limit:openai/gpt-decl:bookings`, '0', '-1')).toEqual([]);
      expect(await on.zcard(keys.envelopeLeases(runScope, undefined, envelopes.day))).toBe(0);
      expect(await on.hget(keys.envelopeDay(runScope, undefined, envelopes.day), 'spentTokens')).toBe('3');
      await on.del(keys.envelope(runScope), keys.envelopeDay(runScope, undefined, envelopes.day));
    });
    expect(undeclared).toEqual([]);
  });

  it('a provider call told its booked turn comes back a little early for it and goes on its turn', async () => {
    // One call every 2 s: the second is refused (not waited for in the call, as a turn within 250 ms is) however slow the machine.
    const limiter = limiterFor({ echo: { models: { 'echo-turn': { rpm: 30 } } } });
    const bookings = `${prefix}:limit:echo/echo-turn:bookings`;
    const made: number[] = [];
    const inner = new EchoProvider();
    const limited = new AdmittedProvider(
      { name: 'echo', complete: (req) => (made.push(Date.now()), inner.complete(req)) },
      new LimitsGate({ limiter, target: { provider: 'echo' }, leaseMs: 10_000, logger: silentLogger }),
    );
    const ask = (callKey: string) =>
      limited.complete({
        agent: 'a',
        model: 'echo-turn',
        messages: [{ role: 'user', content: 'hi' }],
        maxTokens: 10,
        signal: new AbortController().signal,
        callKey,
      });
    const beforeFirst = Date.now();
    await ask('first');
    const beforeSecond = Date.now();
    const refused = await ask('second').then(
      () => undefined,
      (err: unknown) => err,
    );
    const afterSecond = Date.now();
    expect(refused).toBeInstanceOf(CapacityWaitError);
    // Its turn is booked one interval after the first call went (both on the one machine's clock).
    const turn = Number(await redis.zscore(bookings, 'second'));
    expect(turn).toBeGreaterThanOrEqual(beforeFirst + 2000);
    expect(turn).toBeLessThanOrEqual(made[0]! + 2000);
    // It is told to come back 100 ms before its turn, as reckoned when it was refused...
    const { waitMs } = refused as CapacityWaitError;
    expect(waitMs).toBeGreaterThanOrEqual(turn - afterSecond - 100 - 1);
    expect(waitMs).toBeLessThanOrEqual(turn - beforeSecond - 100 + 1);
    await new Promise((r) => setTimeout(r, waitMs));
    // ...and then waits for the turn here (it is not refused again): the call goes on its turn, not before, its booking used.
    await ask('second');
    expect(made).toHaveLength(2);
    expect(made[1]!).toBeGreaterThanOrEqual(turn);
    expect(await redis.zrange(bookings, '0', '-1')).toEqual([]);
  });

  it('reserves tokens and settles them with the real usage (a refund lets the next call in)', async () => {
    const limiter = limiterFor({ openai: { models: { 'gpt-t': { tpm: 1000 } } } });
    const first = await limiter.acquire(target('gpt-t'), 600, 60_000).then(ticketOf);
    const second = await limiter.acquire(target('gpt-t'), 600, 60_000);
    expect(second).toMatchObject({ granted: false, why: 'tpm' });
    // 600 tokens of 1000 a minute take 36 s to flow out.
    expect(second.granted === false && second.waitMs).toBeGreaterThan(30_000);
    // It used 10: the other 590 come back, and the next call fits once those 10 have flowed out (0.6 s).
    await limiter.settle(first, { result: 'ok', usedTokens: 10 });
    const third = await limiter.acquire(target('gpt-t'), 600, 60_000);
    expect(third.granted || third.waitMs <= 700).toBe(true);
    // A call bigger than a whole minute's tokens can never fit.
    expect(await limiter.acquire(target('gpt-t'), 1001, 60_000)).toMatchObject({ granted: false, never: true, why: 'tpm' });
  });

  it('counts calls at once; a lease ends on settle, or when it expires (a lost worker)', async () => {
    const limiter = limiterFor({ openai: { models: { 'gpt-c': { maxConcurrent: 1 } } } });
    const first = await limiter.acquire(target('gpt-c'), 1, 60_000).then(ticketOf);
    expect(await limiter.acquire(target('gpt-c'), 1, 60_000)).toMatchObject({ granted: false, why: 'maxConcurrent' });
    await limiter.settle(first, { result: 'neutral' });
    await limiter.acquire(target('gpt-c'), 1, 50).then(ticketOf); // its worker "dies": never settled
    await new Promise((r) => setTimeout(r, 80));
    await limiter.acquire(target('gpt-c'), 1, 60_000).then(ticketOf);
  });

  it('pauses a model for every caller until Retry-After, per API key when the limits are per key', async () => {
    const limiter = limiterFor({ openai: { perKey: true } });
    const t = await limiter.acquire(target('gpt-p', 'key-1'), 1, 60_000).then(ticketOf);
    await limiter.settle(t, { result: 'neutral', pauseUntil: Date.now() + 5_000 });
    const other = limiterFor({ openai: { perKey: true } }); // another process
    const paused = await other.acquire(target('gpt-p', 'key-1'), 1, 60_000);
    expect(paused).toMatchObject({ granted: false, why: 'paused' });
    expect(paused.granted === false && paused.scope).toMatch(/^openai#[0-9a-f]{12}\/gpt-p$/);
    expect(paused.granted === false && paused.scope).not.toContain('key-1');
    // Another key is its own scope.
    await other.acquire(target('gpt-p', 'key-2'), 1, 60_000).then(ticketOf);
  });

  it('ends a capped pause with one probe call: another 429 pauses again, its answer lifts the pause; a lost probe’s turn expires', async () => {
    const limiter = limiterFor({});
    const t = await limiter.acquire(target('gpt-cap'), 1, 60_000).then(ticketOf);
    expect(await limiter.settle(t, { result: 'neutral', pauseUntil: Date.now() + 100, pauseKind: 'capped' })).toEqual({
      opened: [],
      paused: 'openai/gpt-cap',
      lifted: undefined,
    });
    // Paused by another call meanwhile: not a new pause (logged once, by the call that began it).
    const during = await limiter.acquire(target('gpt-cap'), 1, 60_000);
    expect(during).toMatchObject({ granted: false, why: 'paused' });
    await new Promise((r) => setTimeout(r, 150));
    const probe = await limiter.acquire(target('gpt-cap'), 1, 60_000).then(ticketOf);
    expect(probe.pauseProbe).toBe(true);
    expect(await limiter.acquire(target('gpt-cap'), 1, 60_000)).toMatchObject({ granted: false, why: 'paused, a probe call is under way' });
    // The probe is told to slow down again: paused again.
    expect((await limiter.settle(probe, { result: 'neutral', pauseUntil: Date.now() + 100, pauseKind: 'capped' })).paused).toBe('openai/gpt-cap');
    expect(await limiter.acquire(target('gpt-cap'), 1, 60_000)).toMatchObject({ granted: false, why: 'paused' });
    await new Promise((r) => setTimeout(r, 150));
    // A probe whose worker is lost holds the pause only until its lease ends.
    await limiter.acquire(target('gpt-cap'), 1, 80).then(ticketOf);
    await new Promise((r) => setTimeout(r, 120));
    const next = await limiter.acquire(target('gpt-cap'), 1, 60_000).then(ticketOf);
    expect(await limiter.settle(next, { result: 'ok', usedTokens: 1 })).toEqual({ opened: [], paused: undefined, lifted: 'openai/gpt-cap' });
    expect((await limiter.acquire(target('gpt-cap'), 1, 60_000).then(ticketOf)).pauseProbe).toBe(false);
    expect(await redis.zscore(`${prefix}:limits:paused`, 'openai/gpt-cap')).toBeNull();
  });

  it('refuses a call to a scope whose quota is spent at once, with the provider’s message and when it may recover', async () => {
    const limiter = limiterFor({});
    const t = await limiter.acquire(target('gpt-spent'), 1, 60_000).then(ticketOf);
    const recoversAt = Date.now() + 3 * 24 * 3600_000;
    await limiter.settle(t, {
      result: 'neutral',
      pauseUntil: Date.now() + 60_000,
      pauseKind: 'quota',
      quota: { message: 'openai 429: insufficient_quota', recoversAt },
    });
    const refused = await limiter.acquire(target('gpt-spent'), 1, 60_000, 'k1');
    expect(refused).toMatchObject({
      granted: false,
      why: 'quota',
      scope: 'openai/gpt-spent',
      booked: false,
      quota: { message: 'openai 429: insufficient_quota', recoversAt },
    });
    expect(refused.granted === false && refused.waitMs).toBeGreaterThan(59_000);
    expect(await redis.zscore(`${prefix}:limits:paused`, 'openai/gpt-spent')).not.toBeNull();
  });

  it('a spent quota’s probe that is told to slow down (a short 429, or headers saying the window is spent) ends the quota: the calls after it wait, they are not refused', async () => {
    const limiter = limiterFor({});
    const quotaThenProbe = async (model: string) => {
      const t = await limiter.acquire(target(model), 1, 60_000).then(ticketOf);
      await limiter.settle(t, {
        result: 'neutral',
        pauseUntil: Date.now() + 60,
        pauseKind: 'quota',
        quota: { message: 'openai 429: insufficient_quota', recoversAt: Date.now() + 60 },
      });
      await new Promise((r) => setTimeout(r, 100));
      const probe = await limiter.acquire(target(model), 1, 60_000).then(ticketOf);
      expect(probe.pauseProbe).toBe(true);
      return probe;
    };
    // The probe answers, but its headers say the window is spent: a short pause, not a quota.
    await limiter.settle(await quotaThenProbe('gpt-back-1'), { result: 'ok', usedTokens: 1, pauseUntil: Date.now() + 5_000 });
    // The probe gets an ordinary 429 (one second).
    await limiter.settle(await quotaThenProbe('gpt-back-2'), { result: 'neutral', pauseUntil: Date.now() + 5_000 });
    for (const model of ['gpt-back-1', 'gpt-back-2']) {
      const next = await limiter.acquire(target(model), 1, 60_000, `after-${model}`);
      expect(next).toMatchObject({ granted: false, why: 'paused', booked: false });
      expect(next.granted === false && next.quota).toBeUndefined();
      // Nothing of the quota is left to show (GET /v1/limits, /readyz).
      expect(await redis.hmget(`${prefix}:limit:openai/${model}`, 'pauseProbe', 'quota', 'quotaUntil')).toEqual([null, null, null]);
    }
  });

  it('opens the circuit after the failures, lets one probe through after the cool-down, and closes on its success', async () => {
    const limiter = limiterFor({ openai: { breaker: { failures: 2, windowMs: 10_000, cooldownMs: 150 } } });
    for (let i = 0; i < 2; i++) await limiter.settle(await limiter.acquire(target('gpt-b'), 1, 60_000).then(ticketOf), { result: 'failure' });
    expect(await limiter.acquire(target('gpt-b'), 1, 60_000)).toMatchObject({ granted: false, why: 'circuit open', scope: 'openai/gpt-b' });
    await new Promise((r) => setTimeout(r, 200));
    const probe = await limiter.acquire(target('gpt-b'), 1, 60_000).then(ticketOf);
    expect(await limiter.acquire(target('gpt-b'), 1, 60_000)).toMatchObject({ granted: false, why: 'circuit half-open, a probe call is under way' });
    await limiter.settle(probe, { result: 'ok', usedTokens: 1 });
    await limiter.acquire(target('gpt-b'), 1, 60_000).then(ticketOf);
  });

  it('reopens the circuit when the probe fails, lets another probe go after a neutral one, and after a lost one’s lease', async () => {
    const limiter = limiterFor({ openai: { breaker: { failures: 1, windowMs: 10_000, cooldownMs: 100 } } });
    await limiter.settle(await limiter.acquire(target('gpt-p2'), 1, 60_000).then(ticketOf), { result: 'failure' });
    await new Promise((r) => setTimeout(r, 150));
    const failedProbe = await limiter.acquire(target('gpt-p2'), 1, 60_000).then(ticketOf);
    expect((await limiter.settle(failedProbe, { result: 'failure' })).opened).toEqual(['openai/gpt-p2']);
    expect(await limiter.acquire(target('gpt-p2'), 1, 60_000)).toMatchObject({ granted: false, why: 'circuit open' });
    await new Promise((r) => setTimeout(r, 150));
    // A probe cancelled (neutral) lets the next one go.
    await limiter.settle(await limiter.acquire(target('gpt-p2'), 1, 60_000).then(ticketOf), { result: 'neutral' });
    // A probe whose worker is lost holds the half-open circuit only until its lease ends.
    await limiter.acquire(target('gpt-p2'), 1, 80).then(ticketOf);
    expect(await limiter.acquire(target('gpt-p2'), 1, 60_000)).toMatchObject({ granted: false, why: 'circuit half-open, a probe call is under way' });
    await new Promise((r) => setTimeout(r, 120));
    const next = await limiter.acquire(target('gpt-p2'), 1, 60_000).then(ticketOf);
    await limiter.settle(next, { result: 'ok', usedTokens: 1 });
    await limiter.acquire(target('gpt-p2'), 1, 60_000).then(ticketOf);
  });
});

describe('provider limits end to end', () => {
  let fake: FakeLlmServer;
  let h: Harness;
  const agents = {
    left: { provider: 'openai', model: 'gpt-shared', attempts: 1 },
    right: { provider: 'openai', model: 'gpt-shared', attempts: 1 },
    paced: { provider: 'openai', model: 'gpt-paced', attempts: 1, rateLimit: { max: 2, durationMs: 1000 } },
  };
  const providers = { openai: { models: { 'gpt-shared': { maxConcurrent: 1 } } } };

  beforeAll(async () => {
    fake = await startFakeLlmServer();
    h = await startHarness({ name: 'limits-e2e', fake, agents, providers, pools: ['left', 'paced'] });
  }, 30_000);
  afterEach(() => fake.reset());
  afterAll(async () => {
    await killAllWorkerProcesses();
    await h?.close();
    await fake?.close();
    assertAllClosed();
  });

  it('two agent queues in two processes on one model never call it more than maxConcurrent at once; waiting keeps the attempt', async () => {
    // `right` is served by another process with the same limits.
    await startWorkerProcess({ prefix: h.prefix, agents, providers, serve: ['right'], internal: false, fake });
    let inFlight = 0;
    let most = 0;
    fake.respondWith(async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 150));
      inFlight--;
      return { text: 'done' };
    });
    const ids = await Promise.all(
      ['left', 'right', 'left', 'right'].map(
        async (agent, i) => (await h.request('POST', '/v1/runs', { agent, input: { task: `task ${i}` } })).body.id as string,
      ),
    );
    const runs = await Promise.all(ids.map((id) => h.waitForRun(id, 30_000)));
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(fake.requests).toHaveLength(4);
    expect(most).toBe(1);
    // Each waited at least once for capacity (only one runs at a time), never with an attempt used up.
    for (const r of runs) expect(r.steps[0]!.attempts).toBe(1);
    const events = (await Promise.all(ids.map((id) => h.system.engine.store.events.read(h.system.scope(), id)))).flat();
    const waits = events.filter((e) => e.type === 'step.retrying' && e.data.reason === 'capacity');
    expect(waits.length).toBeGreaterThan(0);
    expect(waits[0]!.data.detail).toBe('waiting for provider capacity: openai/gpt-shared maxConcurrent');
    for (const id of ids) await expectNoLiveJobs(h.system, id);
  }, 60_000);

  it('a 429 pauses the model for the other agent too, until its Retry-After', async () => {
    let first = true;
    fake.respondWith((r) => {
      if (first) {
        first = false;
        return { status: 429, headers: { 'retry-after': '1' } };
      }
      return { text: `ok ${r.body?.model}` };
    });
    const a = (await h.request('POST', '/v1/runs', { agent: 'left', input: { task: 'one' } })).body.id as string;
    await h.waitUntil(a, (r) => r.steps[0]!.status === 'retrying', 10_000);
    const startedB = Date.now();
    const b = (await h.request('POST', '/v1/runs', { agent: 'right', input: { task: 'two' } })).body.id as string;
    const [ra, rb] = await Promise.all([h.waitForRun(a, 20_000), h.waitForRun(b, 20_000)]);
    expect([ra.status, rb.status]).toEqual(['succeeded', 'succeeded']);
    // The other agent's call waited out the pause instead of hitting the provider at once.
    const bCall = fake.requests.find((x) => x.prompt === 'two')!;
    expect(bCall.time - startedB).toBeGreaterThan(500);
    const bEvents = await h.system.engine.store.events.read(h.system.scope(), b);
    expect(bEvents.find((e) => e.type === 'step.retrying')?.data).toMatchObject({
      reason: 'capacity',
      detail: 'waiting for provider capacity: openai/gpt-shared paused',
    });
    expect(rb.steps[0]!.attempts).toBe(1);
  }, 30_000);

  it('holds the model back before a 429 when the answer’s rate-limit headers say its capacity is spent', async () => {
    let first = true;
    fake.respondWith(() => {
      if (!first) return { text: 'later' };
      first = false;
      return {
        text: 'last one',
        headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-remaining-tokens': '90000' },
      };
    });
    const a = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'left', input: { task: 'spend it' } })).body.id, 20_000);
    const answeredAt = Date.now();
    const b = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'right', input: { task: 'after' } })).body.id, 20_000);
    expect([a.status, b.status]).toEqual(['succeeded', 'succeeded']);
    // The provider never saw a request it would have refused: the second waited for the window.
    expect(fake.requests.find((x) => x.prompt === 'after')!.time - answeredAt).toBeGreaterThan(700);
    const waited = (await h.system.engine.store.events.read(h.system.scope(), b.id)).find((e) => e.type === 'step.retrying');
    expect(waited?.data).toMatchObject({ reason: 'capacity', detail: 'waiting for provider capacity: openai/gpt-shared paused' });
  }, 30_000);

  it('holds an agent’s own rateLimit per call in the shared limiter: a waiting step takes nothing and keeps its attempt', async () => {
    const ids = await Promise.all(
      [0, 1, 2, 3].map(async (i) => (await h.request('POST', '/v1/runs', { agent: 'paced', input: { task: `paced ${i}` } })).body.id as string),
    );
    const runs = await Promise.all(ids.map((id) => h.waitForRun(id, 20_000)));
    expect(runs.map((r) => [r.status, r.steps[0]!.attempts])).toEqual(Array(4).fill(['succeeded', 1]));
    // Two a second: one every half second.
    const times = fake.requests.map((x) => x.time).sort((a, b) => a - b);
    expect(times).toHaveLength(4);
    expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(400);
    expect(times[3]! - times[0]!).toBeGreaterThanOrEqual(900);
  }, 30_000);

  it('says why a step waits for capacity: GET /v1/runs/:id names the scope, the limit and when it tries again', async () => {
    // The first call holds the model's one slot until the second step has been seen waiting.
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    fake.respondWith(async () => {
      await answered;
      return { text: 'slow' };
    });
    try {
      const a = (await h.request('POST', '/v1/runs', { agent: 'left', input: { task: 'hold' } })).body.id as string;
      await h.waitUntil(a, (r) => r.steps[0]!.status === 'running', 10_000);
      const b = (await h.request('POST', '/v1/runs', { agent: 'left', input: { task: 'next' } })).body.id as string;
      const waiting = await h.waitUntil(b, (r) => r.steps[0]!.status === 'retrying', 10_000);
      expect(waiting.steps[0]!.waitingFor).toMatchObject({ reason: 'provider_capacity', detail: 'openai/gpt-shared maxConcurrent', until: expect.any(String) });
      answer();
      await Promise.all([h.waitForRun(a, 20_000), h.waitForRun(b, 20_000)]);
    } finally {
      answer();
    }
  }, 30_000);
});

describe('a finished run gives back what its calls held in the limiter', () => {
  let h: Harness;
  // `idle` is served by no worker: its steps stay live while the test books turns for them.
  const agents = { lim: { provider: 'echo', rateLimit: { max: 5, durationMs: 1000 } }, idle: { provider: 'echo', rateLimit: { max: 1, durationMs: 60_000 } } };
  const workflows = [
    { name: 'lim-fan', steps: [{ parallel: Array.from({ length: 50 }, (_, i) => ({ id: `p${i}`, agent: 'lim', input: { task: `part ${i}` } })) }] },
    { name: 'idle-pair', steps: [{ parallel: ['i1', 'i2'].map((id) => ({ id, agent: 'idle', input: { task: id } })) }] },
  ];
  const bookings = () => redis.zrange(`${h.prefix}:limit:@lim:bookings`, '0', '-1');
  const idleBookings = () => redis.zrange(`${h.prefix}:limit:@idle:bookings`, '0', '-1');
  /** Book a turn of agent `idle` for `stepId` of `runId` (its first call went, the second waits for its turn). */
  const bookIdleTurn = async (runId: string, stepId: string) => {
    const limiter = new RedisLimiter(redis, h.prefix, h.system.registry.limits);
    const target = { provider: 'echo' as const, model: 'echo', agent: { name: 'idle', rateLimit: { max: 1, durationMs: 60_000 } } };
    const holder = { runId, workspaceId: 'default', tag: h.prefix, stepId, attempt: 1 };
    await limiter.acquire(target, 1, 60_000, `${runId}.${stepId}.1.a`, -1, holder);
    expect(await limiter.acquire(target, 1, 60_000, `${runId}.${stepId}.1.b`, -1, holder)).toMatchObject({ booked: true });
  };

  beforeAll(async () => {
    h = await startHarness({ name: 'limits-holds', agents, workflows, pools: ['lim'] });
  }, 30_000);
  afterAll(async () => {
    await h?.close();
  });

  it('a cancelled run’s booked turns are released at once: the next run of the agent goes within about one interval, not after them', async () => {
    const big = (await h.request('POST', '/v1/runs', { workflow: 'lim-fan', input: {} })).body.id as string;
    // Five a second: its 50 steps are refused together and booked one turn each, 200 ms apart.
    await poll('turns booked', bookings, (b) => b.filter((k) => k.startsWith(big)).length >= 30, { timeoutMs: 10_000 });
    // Cancelled in flight: its first turns have come (steps done), the rest are still booked.
    await h.waitUntil(big, (r) => r.steps.filter((s) => s.status === 'succeeded').length >= 2, 10_000);
    expect((await h.request('POST', `/v1/runs/${big}/cancel`)).status).toBe(200);
    // None of its turns is held any longer, and the arrival time they pushed forward is given
    // back (a step asking the limiter as its run ends gives back the turn it gets then itself).
    await poll('its turns released', bookings, (b) => !b.some((k) => k.startsWith(big)), { timeoutMs: 2_000 });
    const tat = Number(await redis.hget(`${h.prefix}:limit:@lim`, 'tatReq'));
    expect(tat - Date.now()).toBeLessThanOrEqual(400);

    const submitted = Date.now();
    const next = (await h.request('POST', '/v1/runs', { agent: 'lim', input: { task: 'after the cancel' } })).body.id as string;
    const run = await h.waitForRun(next, 20_000);
    expect(run.status).toBe('succeeded');
    // Any wait it had was for its own turn (one interval), none for the cancelled run's.
    const waits = (await h.system.engine.store.events.read(h.system.scope(), next)).filter((e) => e.type === 'step.retrying');
    for (const w of waits) expect(Date.parse(w.data.retryAt as string) - Date.parse(w.at)).toBeLessThanOrEqual(400);
    // (Before, it waited about 8.5 s behind the cancelled run's turns.)
    expect(Date.parse(run.finishedAt!) - submitted).toBeLessThan(5_000);
    await expectNoLiveJobs(h.system, big);
  }, 30_000);

  it('steps cancelled in a live run (a join met early) give back their turns; the others keep theirs', async () => {
    const big = (await h.request('POST', '/v1/runs', { workflow: 'lim-fan', input: {} })).body.id as string;
    const ofRun = async () => (await bookings()).filter((k) => k.startsWith(`${big}.`));
    const booked = await poll('turns booked', ofRun, (b) => b.length >= 30, { timeoutMs: 10_000 });
    const stepOf = (key: string) => key.slice(big.length + 1).split('.')[0]!;
    // The last ten booked: their turns are seconds away, none of them is asking the limiter now.
    const cancel = booked.slice(-10).map(stepOf);
    expect(
      await h.system.engine.control.cancelSteps(
        h.system.scope(),
        big,
        cancel.map((stepId) => ({ stepId, agent: 'lim' })),
        'no longer needed',
      ),
    ).toEqual(cancel);
    const left = (await ofRun()).map(stepOf);
    expect(left.filter((s) => cancel.includes(s))).toEqual([]);
    expect(left.length).toBeGreaterThan(0);
    expect((await h.request('POST', `/v1/runs/${big}/cancel`)).status).toBe(200);
    await poll('its turns released', ofRun, (b) => b.length === 0, { timeoutMs: 2_000 });
    await expectNoLiveJobs(h.system, big);
  }, 30_000);

  it('a run that ends by itself gives back its steps’ turns: settled by its root (a step lost), or by its only step’s result', async () => {
    const pair = (await h.request('POST', '/v1/runs', { workflow: 'idle-pair', input: {} })).body.id as string;
    await bookIdleTurn(pair, 'i1');
    // The root job settles the run: its steps' jobs are done, i1 is still live (its job was lost).
    expect(await h.system.engine.store.endings.finish(h.system.scope(), pair, 'auto', { reason: 'run finished' })).toMatchObject({
      applied: true,
      status: 'failed',
    });
    expect((await idleBookings()).filter((k) => k.startsWith(pair))).toEqual([]);
    expect(await redis.exists(keys.runHolds(h.system.scope(), pair))).toBe(0);

    const single = (await h.request('POST', '/v1/runs', { agent: 'idle', input: { task: 'alone' } })).body.id as string;
    const { stepId } = (await h.system.engine.store.records.onlyStep(h.system.scope(), single))!;
    await bookIdleTurn(single, stepId);
    // Its only step records its result and finishes its run in the same write.
    const reply = await h.system.engine.store.steps.complete(
      h.system.scope(),
      single,
      stepId,
      { output: 'done', input: null, usage: null, model: null },
      { finishRun: true },
    );
    expect(reply).toMatchObject({ recorded: true, finished: 'succeeded' });
    expect((await idleBookings()).filter((k) => k.startsWith(single))).toEqual([]);
  });

  it('a run halted for its budget, a failed step or a met quorum gives back its steps’ turns: every halt ends through the one finisher', async () => {
    const endings: [string, RunEnding][] = [
      ['budget_exceeded', { how: 'halt', status: 'budget_exceeded', error: 'maxSteps 1 reached', reason: 'maxSteps 1 reached' }],
      ['failed', stepFailedEnding('i2', 'boom')],
      ['succeeded', { how: 'halt', status: 'succeeded', reason: 'the run stopped early: quorum met', output: 'agreed' }],
    ];
    for (const [status, ending] of endings) {
      const run = (await h.request('POST', '/v1/runs', { workflow: 'idle-pair', input: {} })).body.id as string;
      await bookIdleTurn(run, 'i1');
      expect(
        (await idleBookings()).some((k) => k.startsWith(run)),
        status,
      ).toBe(true);
      expect(await finishRun(h.system.engine, h.system.scope(), run, ending)).toMatchObject({ applied: true, status });
      expect(
        (await idleBookings()).filter((k) => k.startsWith(run)),
        status,
      ).toEqual([]);
      expect(await redis.exists(keys.runHolds(h.system.scope(), run))).toBe(0);
      await expectNoLiveJobs(h.system, run);
    }
  });
});

describe('an attempt that was taken over', () => {
  let fake: FakeLlmServer;
  let h: Harness;
  // One call a minute: a second call of the step is refused and its turn booked.
  const flaky = { provider: 'openai', model: 'gpt-flaky', attempts: 3, backoff: { type: 'fixed', delayMs: 10 }, rateLimit: { max: 1, durationMs: 60_000 } };
  const workflows = [
    {
      name: 'flaky-and-slow',
      steps: [
        {
          parallel: [
            { id: 'a', agent: 'flaky', input: { task: 'taken over' } },
            { id: 'b', agent: 'slow', input: { task: 'slow' } },
          ],
        },
      ],
    },
  ];

  beforeAll(async () => {
    fake = await startFakeLlmServer();
    // `slow` answers only once the test has looked (see below).
    h = await startHarness({ name: 'limits-taken-over', fake, agents: { flaky, slow: { provider: 'openai', model: 'gpt-held', attempts: 1 } }, workflows });
  }, 30_000);
  afterAll(async () => {
    await h?.close();
    await fake?.close();
  });

  it('gives back only what it held itself when its retry finds the step moved on: the later attempt keeps its booked turn', async () => {
    // Step b's answer is held until the test has looked: the run (and with it every turn it holds) cannot end before.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let submitted!: (id: string) => void;
    const runId = new Promise<string>((r) => (submitted = r));
    // Set before the run is submitted: its calls may come before the API has answered.
    fake.respondWith(async (req) => {
      if (req.prompt === 'slow') return held.then(() => undefined);
      const id = await runId;
      // While attempt 1 waits for its answer, its worker is taken for lost: attempt 2 starts,
      // is refused by the agent's rate (its turn booked for it) and waits for it.
      await h.system.engine.store.steps.transition(h.system.scope(), id, 'a', {
        from: ['running'],
        to: 'retrying',
        fields: { reason: 'waiting for its turn' },
      });
      const limiter = new RedisLimiter(redis, h.prefix, h.system.registry.limits);
      const admission = await limiter.acquire(
        { provider: 'openai', model: 'gpt-flaky', agent: { name: 'flaky', rateLimit: flaky.rateLimit } },
        1,
        60_000,
        `${id}.a.2.x`,
        -1,
        { runId: id, workspaceId: 'default', tag: h.prefix, stepId: 'a', attempt: 2 },
      );
      expect(admission).toMatchObject({ booked: true });
      // Attempt 1's answer then fails (retryable): its retry finds the step is no longer its own.
      return { status: 500 };
    });
    const bookings = () => redis.zrange(`${h.prefix}:limit:@flaky:bookings`, '0', '-1');
    const id = (await h.request('POST', '/v1/runs', { workflow: 'flaky-and-slow', input: {} })).body.id as string;
    submitted(id);
    try {
      const job = () => h.system.agentQueue('flaky').getJobState(stepJobId(id, 'a'));
      // Its job is done (completed, and so removed).
      await poll('attempt 1’s delivery ended', job, (s) => s === 'completed' || s === 'unknown', { timeoutMs: 20_000 });
      expect(await bookings()).toEqual([`${id}.a.2.x`]);
      expect((await redis.zrange(keys.runHolds(h.system.scope(), id), '0', '-1')).filter((e) => e.startsWith('b 2 a '))).toHaveLength(1);
    } finally {
      release();
    }
    // The run ends (its root settles it): then the turn goes back.
    await h.waitForRun(id, 20_000);
    await poll('the booked turn given back', bookings, (b) => b.length === 0);
  });
});

describe('fallback models', () => {
  let fake: FakeLlmServer;
  let h: Harness;
  const agents = {
    main: {
      provider: 'openai',
      model: 'gpt-main',
      attempts: 3,
      backoff: { type: 'fixed', delayMs: 10 },
      fallback: [{ provider: 'anthropic', model: 'claude-fb' }],
    },
    chain: {
      provider: 'openai',
      model: 'gpt-down',
      attempts: 1,
      fallback: [
        { provider: 'openai', model: 'gpt-misnamed' },
        { provider: 'anthropic', model: 'claude-second' },
      ],
    },
    judged: {
      provider: 'openai',
      model: 'gpt-judged',
      attempts: 1,
      structured: 'json_schema',
      output: { schema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } },
      fallback: [{ provider: 'anthropic', model: 'claude-fb' }],
    },
    // One call a second on its model, under a provider-wide token limit its fallback shares.
    spill: { provider: 'openai', model: 'gpt-slowish', attempts: 1, fallback: [{ provider: 'openai', model: 'gpt-spill' }] },
  };
  const providers = {
    openai: { tpm: 1_000_000, models: { 'gpt-main': {}, 'gpt-slowish': { rpm: 60 } }, breaker: { failures: 1, windowMs: 60_000, cooldownMs: 60_000 } },
  };

  beforeAll(async () => {
    fake = await startFakeLlmServer();
    h = await startHarness({ name: 'limits-fallback', fake, agents, providers });
  }, 30_000);
  afterEach(() => fake.reset());
  afterAll(async () => {
    await h?.close();
    await fake?.close();
  });

  it('answers with the fallback while the primary’s circuit is open, and records which model answered', async () => {
    fake.respondWith((r) => (r.body?.model === 'gpt-main' ? { status: 500 } : undefined));
    const r = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'main', input: { task: 'hello' } })).body.id, 20_000);
    expect(r.status).toBe('succeeded');
    // Attempt 1 failed on the primary and opened its circuit; attempt 2 went to the fallback.
    expect(fake.requests.map((x) => x.body?.model)).toEqual(['gpt-main', 'claude-fb']);
    expect(r.steps[0]).toMatchObject({ model: 'claude-fb', output: 'fake claude-fb: hello', attempts: 2 });
  });

  it('a call its model’s rate refuses goes to a fallback of the same provider at once (the turn booked for the primary holds back nothing they share)', async () => {
    const ids = await Promise.all(
      ['first', 'second'].map(async (task) => (await h.request('POST', '/v1/runs', { agent: 'spill', input: { task } })).body.id as string),
    );
    const runs = await Promise.all(ids.map((id) => h.waitForRun(id, 20_000)));
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    expect(runs.map((r) => r.steps[0]!.model).sort()).toEqual(['gpt-slowish', 'gpt-spill']);
    // At once: the spilled step never waited (a wait for the primary's turn, a second away, is a retry).
    const spilled = runs.find((r) => r.steps[0]!.model === 'gpt-spill')!;
    expect((await h.system.engine.store.events.read(h.system.scope(), spilled.id)).filter((e) => e.type === 'step.retrying')).toEqual([]);
    expect(spilled.steps[0]!.attempts).toBe(1);
  });

  it('tries the next fallback when one fails (a 404 for a model that is not there), and says which answered', async () => {
    fake.respondWith((r) =>
      r.body?.model === 'gpt-down' ? { status: 429, headers: { 'retry-after': '30' } } : r.body?.model === 'gpt-misnamed' ? { status: 404 } : undefined,
    );
    const r = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'chain', input: { task: 'on' } })).body.id, 20_000);
    expect(r.status).toBe('succeeded');
    expect(fake.requests.map((x) => x.body?.model)).toEqual(['gpt-down', 'gpt-misnamed', 'claude-second']);
    expect(r.steps[0]).toMatchObject({ model: 'claude-second', attempts: 1 });
  });

  it('goes to the fallback at once on a 429, and asks it for a structured answer its own way (a forced tool)', async () => {
    fake.respondWith((r) =>
      r.body?.model === 'gpt-judged'
        ? { status: 429, headers: { 'retry-after': '30' } }
        : r.api === 'anthropic'
          ? { toolCalls: [{ name: 'answer', input: { ok: true } }] }
          : undefined,
    );
    const r = await h.waitForRun((await h.request('POST', '/v1/runs', { agent: 'judged', input: { task: 'judge' } })).body.id, 20_000);
    expect(r.status).toBe('succeeded');
    expect(r.steps[0]).toMatchObject({ model: 'claude-fb', output: { ok: true }, attempts: 1 });
    const [primary, fallback] = fake.requests;
    expect(primary!.body.response_format.type).toBe('json_schema');
    expect(fallback!.body.tool_choice).toEqual({ type: 'tool', name: 'answer' });
  });
});

describe('a spent quota', () => {
  let fake: FakeLlmServer;
  let h: Harness;
  const agents = {
    qo: { provider: 'openai', model: 'gpt-q', attempts: 3 },
    q99: { provider: 'openai', model: 'gpt-q99', attempts: 3 },
    qf: { provider: 'openai', model: 'gpt-qf', attempts: 3, fallback: [{ provider: 'anthropic', model: 'claude-fb' }] },
    qb: { provider: 'openai', model: 'gpt-qb', attempts: 3, fallback: [{ provider: 'anthropic', model: 'claude-busy' }] },
    qa: { provider: 'anthropic', model: 'claude-q', attempts: 3 },
    ov: { provider: 'anthropic', model: 'claude-ov', attempts: 3 },
    ov2: { provider: 'anthropic', model: 'claude-ov', attempts: 3 },
  };
  const THREE_DAYS_S = 3 * 24 * 3600;
  const CAP_MS = 300_000;
  const pausedUntil = async (scope: string) => Number(await redis.hget(`${h.prefix}:limit:${scope}`, 'pausedUntil'));
  const run = async (agent: string, task: string) => h.waitForRun((await h.request('POST', '/v1/runs', { agent, input: { task } })).body.id, 20_000);

  beforeAll(async () => {
    fake = await startFakeLlmServer();
    h = await startHarness({ name: 'limits-quota', fake, agents });
  }, 30_000);
  afterEach(() => fake.reset());
  afterAll(async () => {
    await h?.close();
    await fake?.close();
  });

  it('OpenAI insufficient_quota fails the step at once, not retried, saying so; the model is refused without a call until an admin resumes it', async () => {
    let spent = true;
    fake.respondWith((r) => (r.body?.model === 'gpt-q' && spent ? { status: 429, errorType: 'insufficient_quota' } : undefined));
    const first = await run('qo', 'spend');
    expect(first.status).toBe('failed');
    expect(first.steps[0]).toMatchObject({ status: 'failed', attempts: 1 });
    expect(first.steps[0]!.error).toMatch(
      /^quota exhausted \(quota_exhausted\) on openai\/gpt-q: openai 429: fake error 429 insufficient_quota .*the provider did not say when it recovers\. Not retried: /,
    );
    // The next call to the model is refused without calling it, for every agent and process.
    const second = await run('qo', 'again');
    expect(second.steps[0]!.error).toMatch(/^quota exhausted \(quota_exhausted\) on openai\/gpt-q: /);
    expect(fake.requests).toHaveLength(1);
    // The first step keeps the provider's answer to debug; the second called no provider: nothing.
    expect(first.steps[0]!.debug?.error).toMatchObject({ status: 429, code: 'insufficient_quota' });
    expect(second.steps[0]!.debug ?? null).toBeNull();
    expect((await pausedUntil('openai/gpt-q')) - Date.now()).toBeLessThanOrEqual(CAP_MS);

    // An operator sees it in /readyz (still ready), the metrics and GET /v1/limits.
    const ready = await h.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.pausedScopes).toEqual([{ scope: 'openai/gpt-q', quotaExhausted: true, until: expect.any(String) }]);
    expect(Date.parse(ready.body.pausedScopes[0].until) - Date.now()).toBeLessThanOrEqual(CAP_MS);
    expect((await h.request('GET', '/metrics')).body).toContain('switchyard_provider_quota_exhausted{scope="openai/gpt-q"} 1');
    expect((await h.request('GET', '/v1/limits')).body.paused).toEqual([
      expect.objectContaining({ scope: 'openai/gpt-q', quotaExhausted: true, probed: true, message: expect.stringContaining('insufficient_quota') }),
    ]);

    // Bad input is a clear 4xx; a scope that is not paused is a 404 naming the paused ones.
    expect((await h.request('POST', '/v1/limits/openai%20gpt-q/resume')).status).toBe(422);
    expect((await h.request('POST', '/v1/limits/openai%E0%A4%A/resume')).status).toBe(400);
    expect((await h.request('POST', '/v1/limits/openai%2Fgpt-q/resume?force=1')).status).toBe(422);
    const unknown = await h.request('POST', '/v1/limits/openai%2Fgpt-nothing/resume');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toBe('limiter scope "openai/gpt-nothing" is not paused (paused now: openai/gpt-q)');
    spent = false;
    const resumed = await h.request('POST', '/v1/limits/openai%2Fgpt-q/resume');
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ resumed: true, scope: 'openai/gpt-q', quotaExhausted: true, queues: ['agent.qo'] });
    expect((await h.request('POST', '/v1/limits/openai%2Fgpt-q/resume')).status).toBe(404);
    expect((await run('qo', 'credit added')).status).toBe('succeeded');
    expect((await h.request('GET', '/readyz')).body.pausedScopes).toEqual([]);
  });

  it('resuming a scope id that names another of the limiter’s keys (its leases, its bookings) is a 404 naming the paused scopes, not a Redis error', async () => {
    await redis.zadd(`${h.prefix}:limit:openai:leases`, Date.now() + 60_000, 'a-lease');
    await redis.zadd(`${h.prefix}:limit:openai:bookings`, Date.now() + 60_000, 'a-call');
    for (const scope of ['openai:leases', 'openai:bookings']) {
      const res = await h.request('POST', `/v1/limits/${encodeURIComponent(scope)}/resume`);
      expect(res.status, JSON.stringify(res.body)).toBe(404);
      expect(res.body.error.message).toMatch(new RegExp(`^limiter scope "${scope}" is not paused \\(paused now: `));
    }
    // Nothing of them was touched.
    expect(await redis.zcard(`${h.prefix}:limit:openai:leases`)).toBe(1);
    await redis.del(`${h.prefix}:limit:openai:leases`, `${h.prefix}:limit:openai:bookings`);
  });

  it('a spent quota goes to the agent’s fallback at once, and the next call goes there without asking the primary', async () => {
    fake.respondWith((r) => (r.body?.model === 'gpt-qf' ? { status: 429, errorType: 'insufficient_quota' } : undefined));
    const runs = [await run('qf', 'one'), await run('qf', 'two')];
    expect(runs.map((r) => [r.status, r.steps[0]!.model, r.steps[0]!.attempts])).toEqual([
      ['succeeded', 'claude-fb', 1],
      ['succeeded', 'claude-fb', 1],
    ]);
    expect(fake.requests.map((x) => x.body?.model)).toEqual(['gpt-qf', 'claude-fb', 'claude-fb']);
    await h.system.limits.resume('openai/gpt-qf');
  });

  it('a spent quota whose fallback is only briefly busy (a short 429) waits for the fallback, not fails', async () => {
    let busy = true;
    fake.respondWith((r) => {
      if (r.body?.model === 'gpt-qb') return { status: 429, errorType: 'insufficient_quota' };
      if (r.body?.model === 'claude-busy' && busy) {
        busy = false;
        return { status: 429, headers: { 'retry-after-ms': '300' } };
      }
      return undefined;
    });
    const r = await run('qb', 'wait for the fallback');
    expect(r.status, r.error ?? '').toBe('succeeded');
    expect(r.steps[0]).toMatchObject({ model: 'claude-busy', output: 'fake claude-busy: wait for the fallback' });
    // The primary was asked once; then the limiter refused it without a call.
    expect(fake.requests.map((x) => x.body?.model)).toEqual(['gpt-qb', 'claude-busy', 'claude-busy']);
    await h.system.limits.resume('openai/gpt-qb');
  });

  it('a 429 with a Retry-After of three days (Anthropic, a monthly spend limit) or a date in 2099 is a spent quota: paused at most the cap, never the queue', async () => {
    fake.respondWith((r) =>
      r.body?.model === 'claude-q'
        ? { status: 429, headers: { 'retry-after': String(THREE_DAYS_S) } }
        : r.body?.model === 'gpt-q99'
          ? { status: 429, headers: { 'retry-after': 'Thu, 01 Jan 2099 00:00:00 GMT' } }
          : undefined,
    );
    const [a, b] = [await run('qa', 'monthly'), await run('q99', 'far')];
    expect([a.status, b.status]).toEqual(['failed', 'failed']);
    expect(a.steps[0]!.error).toMatch(
      /^quota exhausted \(quota_exhausted\) on anthropic\/claude-q: anthropic 429: fake error 429 \(its Retry-After, 3 days, is beyond the 5 min a rate limit is waited out: a spent quota\); the provider said it may recover at /,
    );
    const recovers = Date.parse(/may recover at (\S+)\. /.exec(a.steps[0]!.error!)![1]!);
    expect(recovers - Date.now()).toBeGreaterThan(THREE_DAYS_S * 1000 - 60_000);
    expect(b.steps[0]!.error).toMatch(/the provider said it may recover at 2099-01-01T00:00:00\.000Z\. /);
    for (const scope of ['anthropic/claude-q', 'openai/gpt-q99']) {
      expect((await pausedUntil(scope)) - Date.now()).toBeLessThanOrEqual(CAP_MS);
      await h.system.limits.resume(scope);
    }
    expect(await h.system.agentQueue('qa').getRateLimitTtl()).toBeLessThanOrEqual(0);
    expect(fake.requests).toHaveLength(2);
  });

  it('an overload asking for three days pauses the model and its queue for the cap at most; the resume endpoint lifts it and the waiting steps go on', async () => {
    let overloaded = true;
    fake.respondWith((r) => {
      if (r.body?.model !== 'claude-ov' || !overloaded) return undefined;
      overloaded = false;
      return { status: 529, headers: { 'retry-after': String(THREE_DAYS_S) } };
    });
    const hit = (await h.request('POST', '/v1/runs', { agent: 'ov', input: { task: 'overloaded' } })).body.id as string;
    const rateLimited = await h.waitUntil(hit, (r) => r.steps[0]!.status === 'retrying', 10_000);
    expect(rateLimited.steps[0]!.reason).toBe(`rate limited; retrying in ${CAP_MS} ms`);
    const queueTtl = await h.system.agentQueue('ov').getRateLimitTtl();
    expect(queueTtl).toBeGreaterThan(CAP_MS - 10_000);
    expect(queueTtl).toBeLessThanOrEqual(CAP_MS);
    expect((await pausedUntil('anthropic/claude-ov')) - Date.now()).toBeLessThanOrEqual(CAP_MS);
    // Another agent on the model waits for the pause (no call made).
    const other = (await h.request('POST', '/v1/runs', { agent: 'ov2', input: { task: 'behind it' } })).body.id as string;
    const waiting = await h.waitUntil(other, (r) => r.steps[0]!.status === 'retrying', 10_000);
    expect(waiting.steps[0]!.reason).toBe('waiting for provider capacity: anthropic/claude-ov paused');
    expect(fake.requests).toHaveLength(1);

    const resumed = await h.request('POST', `/v1/limits/${encodeURIComponent('anthropic/claude-ov')}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ scope: 'anthropic/claude-ov', quotaExhausted: false, queues: ['agent.ov', 'agent.ov2'], woken: 1 });
    const runs = await Promise.all([h.waitForRun(hit, 15_000), h.waitForRun(other, 15_000)]);
    expect(runs.map((r) => [r.status, r.steps[0]!.attempts])).toEqual([
      ['succeeded', 1],
      ['succeeded', 1],
    ]);
    expect(fake.requests).toHaveLength(3);
  });

  // Three processes started one after the other: on a busy machine each can take several seconds to load.
  it('npm run limits -- list / resume <scope>: the same from a shell', { timeout: 90_000 }, async () => {
    const limiter = new RedisLimiter(redis, h.prefix, new LimitPlan({}));
    const t = await limiter.acquire(target('gpt-q'), 1, 60_000).then(ticketOf);
    await limiter.settle(t, { result: 'neutral', pauseUntil: Date.now() + 60_000, pauseKind: 'quota', quota: { message: 'openai 429: insufficient_quota' } });
    const dir = await mkdtemp(path.join(tmpdir(), 'sy-limits-'));
    const agentsFile = path.join(dir, 'agents.json');
    await writeFile(agentsFile, JSON.stringify({ agents }));
    const cli = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [...nodeArgs('src/cli/limits.ts'), ...args],
          {
            env: {
              ...process.env,
              REDIS_URL,
              SWITCHYARD_PREFIX: h.prefix,
              SWITCHYARD_AGENTS: agentsFile,
              OPENAI_API_KEY: 'test-key',
              ANTHROPIC_API_KEY: 'test-key',
            },
          },
          (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
        );
      });
    try {
      const list = await cli('list');
      expect(list.code, list.stderr).toBe(0);
      expect(JSON.parse(list.stdout).paused).toEqual([
        expect.objectContaining({ scope: 'openai/gpt-q', quotaExhausted: true, message: 'openai 429: insufficient_quota' }),
      ]);
      const resumed = await cli('resume', 'openai/gpt-q');
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(resumed.stdout)).toMatchObject({ resumed: true, scope: 'openai/gpt-q', queues: ['agent.qo'] });
      await limiter.acquire(target('gpt-q'), 1, 60_000).then(ticketOf);
      expect(await cli('resume', 'openai/gpt-q')).toMatchObject({ code: 1, stderr: 'limiter scope "openai/gpt-q" is not paused (paused now: none)\n' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('logs a pause once, by the call that began it, not once per call it holds back', async () => {
    const lines: { msg: string; scope?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const limiter = new RedisLimiter(redis, h.prefix, new LimitPlan({}));
    const busy = new AdmittedProvider(
      {
        name: 'openai',
        complete: async () => {
          await new Promise((r) => setTimeout(r, 50));
          throw new RateLimitedError('openai 429: slow down', 2_000, 429);
        },
      },
      new LimitsGate({ limiter, target: { provider: 'openai' }, leaseMs: 10_000, logger }),
    );
    const calls = await Promise.allSettled(
      [1, 2, 3].map(() =>
        busy.complete({ agent: 'x', model: 'gpt-once', messages: [{ role: 'user', content: 'hi' }], maxTokens: 10, signal: new AbortController().signal }),
      ),
    );
    expect(calls.map((c) => c.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(lines.filter((l) => l.scope === 'openai/gpt-once').map((l) => l.msg)).toEqual(['provider asked to slow down: openai/gpt-once paused for 2 s']);
  });
});
