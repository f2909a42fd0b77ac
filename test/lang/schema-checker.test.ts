/**
 * The schema threads: every request ends (answered, 422-worthy when the schema is too costly,
 * 503-worthy when the threads cannot take it now, or aborted), the API's compiles and the
 * workers' checks do not wait behind each other, a full queue and a long wait are refused
 * naming their limits, `$async` schemas are refused, `uniqueItems` is checked in linear time,
 * and the compiled schemas kept are bounded by size.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UnavailableError } from '../../src/errors/index.js';
import { isCompiled, schemaCacheStats, schemaErrors, schemaProblem, setSchemaCacheBytes } from '../../src/lang/json-schema.js';
import { SchemaChecker, SchemaTimeoutError, SchemaUnavailableError } from '../../src/lang/schema-checker.js';
import { liveSchemaThreads } from '../../src/lang/schema-lane.js';
import { poll } from '../helpers/poll.js';

const checkers: SchemaChecker[] = [];
const checker = (opts: Partial<ConstructorParameters<typeof SchemaChecker>[0]> = {}): SchemaChecker => {
  const c = new SchemaChecker({ schemaTimeoutMs: 5000, maxValidatedChars: 1_000_000, ...opts });
  checkers.push(c);
  return c;
};
/** Limits no slow compile reaches on a busy machine: for tests whose compiles must finish. */
const patient = { schemaTimeoutMs: 600_000, schemaDeadlineMs: 600_000 };

/** The clock a lane's deadlines and time limits read; it moves only when the test advances it (the threads work in real time). */
const FAKE_CLOCK: Parameters<typeof vi.useFakeTimers>[0] = { toFake: ['setTimeout', 'clearTimeout', 'Date'] };
/** A real wait, whatever the clock (taken before any test fakes it). */
const realSetTimeout = globalThis.setTimeout;
const pause = (ms: number) => new Promise((r) => realSetTimeout(r, ms));

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(checkers.splice(0).map((c) => c.close()));
  // close() ends its threads (a thread a lane ended earlier on its own may still be exiting): none is left running.
  await poll('schema threads ended', liveSchemaThreads, (n) => n === 0);
});

/** A schema whose compile takes about a second (ajv's oneOf code grows with the square of its branches). */
const slowSchema = (tag: string, branches = 1500) => ({ type: 'object', oneOf: Array.from({ length: branches }, (_, i) => ({ required: [`${tag}${i}`] })) });
const small = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] };

/** Resolves once `lane` of `c` works on a request (its thread started and took it). */
async function working(c: SchemaChecker, lane: 'compiles' | 'checks'): Promise<void> {
  while (!c.stats()[lane].active) await pause(5);
}

describe('$async schemas', () => {
  it('are refused where they are declared, naming $async (their Promise was taken as "fits", and its rejection killed the thread)', async () => {
    const schema = { type: 'object', $async: true, required: ['a'] };
    expect(schemaProblem(schema)).toContain('$async');
    expect(await checker().problem(schema)).toContain('$async');
  });
});

describe('lanes, queue and deadline', () => {
  it("does not make a worker's answer check wait behind the API's compiles", async () => {
    const c = checker(patient);
    // The checks' thread is up (its start is not what this is about).
    expect(await c.errors(small, { a: 'x' })).toEqual([]);
    // Several seconds of compiling.
    const compiling = c.problem(slowSchema('k', 3000)).then(
      () => 'compiled',
      (err: unknown) => err,
    );
    await working(c, 'compiles');
    expect(await c.errors(small, { a: 1 })).toEqual(['/a: must be string']);
    // Answered while the compile still runs.
    expect(c.stats().compiles.active).toBe(true);
    await c.close();
    expect(await compiling).toBeInstanceOf(SchemaUnavailableError);
  });

  it('refuses a request past the queue cap at once, and one that waits past its deadline, each naming its limit (503)', async () => {
    vi.useFakeTimers(FAKE_CLOCK);
    const c = checker({ schemaDeadlineMs: 1000, schemaQueueMax: 1 });
    // Its thread started: the deadline is not spent waiting for it.
    expect(await c.problem({ type: 'object' })).toBeUndefined();
    // Several seconds of compiling.
    const slow = c.problem(slowSchema('q', 3000));
    await working(c, 'compiles');
    const waiting = c.problem(small);
    const refused = c.problem({ ...small, title: 'third' });
    await expect(refused).rejects.toBeInstanceOf(SchemaUnavailableError);
    await expect(refused).rejects.toThrow(/at most 1 \(SWITCHYARD_SCHEMA_QUEUE_MAX\)/);
    // Just short of the deadline, both still wait.
    vi.advanceTimersByTime(999);
    expect(c.stats().compiles).toEqual({ queued: 1, active: true });
    // The deadline counts from when each was queued: neither waits for the slow compile to end.
    vi.advanceTimersByTime(1);
    for (const p of [slow, waiting]) {
      await expect(p).rejects.toBeInstanceOf(UnavailableError);
      await expect(p).rejects.toThrow(/longer than 1000 ms from when it was asked \(SWITCHYARD_SCHEMA_DEADLINE_MS\)/);
    }
    expect(c.stats().compiles).toEqual({ queued: 0, active: false });
    // The next one is served (by a new thread: the busy one was ended).
    expect(await c.problem(small)).toBeUndefined();
  });

  it('cuts short a compile past its time limit (SchemaTimeoutError), and serves the next request with a new thread', async () => {
    vi.useFakeTimers(FAKE_CLOCK);
    const c = checker({ schemaTimeoutMs: 100 });
    const slow = c.problem(slowSchema('t'));
    await working(c, 'compiles');
    vi.advanceTimersByTime(99);
    expect(c.stats().compiles.active).toBe(true);
    vi.advanceTimersByTime(1);
    await expect(slow).rejects.toBeInstanceOf(SchemaTimeoutError);
    await expect(slow).rejects.toThrow('took longer than 100 ms (SWITCHYARD_SCHEMA_TIMEOUT_MS)');
    expect(await c.problem(small)).toBeUndefined();
    expect(await c.errors(small, { a: 1 })).toEqual(['/a: must be string']);
    expect((await checker({ schemaTimeoutMs: 100, maxValidatedChars: 1000 }).errors({ type: 'object' }, { a: 'x'.repeat(2000) }))[0]).toContain(
      'SWITCHYARD_MAX_VALIDATED_CHARS',
    );
  });

  it("drops an aborted request from the queue, rejecting it with the signal's reason", async () => {
    const c = checker(patient);
    const slow = c.problem(slowSchema('a', 500));
    await working(c, 'compiles');
    const controller = new AbortController();
    const waiting = c.errors(small, { a: 'x' }, { signal: controller.signal });
    const cheap = c.problem(small, { signal: controller.signal });
    expect(c.stats().compiles.queued).toBe(1);
    const reason = new Error('step cancelled');
    controller.abort(reason);
    await expect(cheap).rejects.toBe(reason);
    expect(c.stats().compiles.queued).toBe(0);
    // The check may have been answered already, or was dropped the same way.
    await waiting.catch((err: unknown) => expect(err).toBe(reason));
    // Already aborted: refused before it is queued.
    await expect(c.problem(small, { signal: controller.signal })).rejects.toBe(reason);
    expect(await slow).toBeUndefined();
  });

  it('answers a closed checker with SchemaUnavailableError (503), and its threads are ended', async () => {
    const c = checker();
    expect(await c.problem(small)).toBeUndefined();
    expect(liveSchemaThreads()).toBeGreaterThan(0);
    await c.close();
    await expect(c.problem(small)).rejects.toBeInstanceOf(UnavailableError);
    await expect(c.errors(small, { a: 'x' })).rejects.toBeInstanceOf(UnavailableError);
    expect(liveSchemaThreads()).toBe(0);
  });

  it('sends a request once more when its thread is lost under it, instead of failing it', async () => {
    const c = checker(patient);
    const slow = c.problem(slowSchema('l', 1000));
    await working(c, 'compiles');
    // The thread dies for a reason of its own (not this request's cost).
    const lane = (c as unknown as { compiles: { thread?: { worker: { terminate(): Promise<number> } } } }).compiles;
    await lane.thread!.worker.terminate();
    expect(await slow).toBeUndefined();
  });
});

describe('what a check costs', () => {
  it('checks uniqueItems over a large answer in linear time (it compared every pair: seconds)', async () => {
    // Milliseconds of work in linear time, with room for a busy machine; comparing every pair of 30,000 items is not.
    const c = checker({ schemaTimeoutMs: 10_000 });
    const schema = { type: 'object', properties: { items: { type: 'array', uniqueItems: true } } };
    const items = Array.from({ length: 30_000 }, (_, i) => ({ id: i, name: `n${i}` }));
    expect(await c.errors(schema, { items })).toEqual([]);
    items.push({ name: 'n7', id: 7 });
    expect(await c.errors(schema, { items })).toEqual(['/items: must NOT have duplicate items (items ## 30000 and 7 are identical)']);
  });

  it('fails a compile that needs more memory than its thread has as too costly, naming the setting; the next one is served', async () => {
    const c = checker({ ...patient, schemaThreadMb: 24 });
    const oneOf = Array.from({ length: 2000 }, (_, i) => ({ required: [`k${i}`], properties: { [`k${i}`]: { type: 'string', minLength: 2 } } }));
    const failure = await c.problem({ type: 'object', oneOf }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SchemaTimeoutError);
    expect(String(failure)).toContain('more memory than its thread has (SWITCHYARD_SCHEMA_THREAD_MB: 24)');
    expect(await c.problem(small)).toBeUndefined();
  });
});

describe('compiled schemas kept', () => {
  const wide = (n: number) => ({ type: 'object', properties: Object.fromEntries(Array.from({ length: 300 }, (_, j) => [`p${n}_${j}`, { type: 'string' }])) });

  it('are bounded by the size of their code, the least recently used dropped first', () => {
    setSchemaCacheBytes(1024 * 1024);
    try {
      const kept = wide(-1);
      for (let n = 0; n < 40; n++) {
        expect(schemaProblem(wide(n))).toBeUndefined();
        // Used all along: never the least recently used.
        expect(schemaErrors(kept, {})).toEqual([]);
      }
      expect(isCompiled(kept)).toBe(true);
      expect(isCompiled(wide(0))).toBe(false);
      const { schemas, bytes, budget } = schemaCacheStats();
      expect(bytes).toBeLessThanOrEqual(budget);
      expect(schemas).toBeGreaterThan(0);
      expect(schemas).toBeLessThan(40);
      // Still usable once dropped: compiled again.
      expect(schemaErrors(wide(0), { p0_0: 1 })).toEqual(['/p0_0: must be string']);
    } finally {
      setSchemaCacheBytes(8 * 1024 * 1024);
    }
  });
});
