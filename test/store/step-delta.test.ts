/**
 * Live-only `step.delta`s on the real Redis: the script publishes one only while the step runs
 * that attempt and never logs it, and the event feed puts each among the logged events by the
 * log position it was published at (a gap read first, a late one dropped). A step's start
 * publishes only the last event it appends: a viewer reads the ones before it from the log. So
 * does a single-step run's finish, which compacts the run: the one before comes from the
 * compacted log.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/store/keys.js';
import { RunStore, type NewStep } from '../../src/store/run-store.js';
import { cellOf, scopeOf } from '../../src/store/scope.js';
import type { RunEvent } from '../../src/model/run.js';
import { cleanupPrefix, newRedis, testPrefix, unique } from '../helpers/redis.js';
import { runRecord } from '../helpers/records.js';
import { poll } from '../helpers/poll.js';

let redis: Redis;
let store: RunStore;
const prefix = testPrefix('step-delta');
const scope = scopeOf(cellOf(prefix));

beforeAll(() => {
  redis = newRedis();
  store = new RunStore({ redis, retentionSeconds: 600, outbox: false });
});

afterAll(async () => {
  store.close();
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

const step = (stepId: string): NewStep => ({ stepId, kind: 'agent', agent: 'a', parent: null, dependsOn: [], optional: false });

/** A run of steps `a` and `b` (`b` its output, so finishing `a` does not finish it). */
async function newRun(): Promise<string> {
  const id = unique('run');
  await store.records.create(scope, runRecord(id), {
    outputSteps: ['b'],
    definition: { name: 't', steps: ['a', 'b'] },
    steps: [step('a'), step('b')],
    refIds: [],
  });
  return id;
}

const start = (runId: string, stepId: string) =>
  store.steps.transition(scope, runId, stepId, { from: ['pending', 'retrying', 'running'], to: 'running', attemptsDelta: 1 });

/** Follow a run until the delta whose text is `last` came (into `got`, as they come). */
async function collect(runId: string, last: string, got: RunEvent[] = []): Promise<RunEvent[]> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), 10_000);
  try {
    for await (const e of store.events.follow(scope, runId, undefined, stop.signal)) {
      got.push(e);
      if (e.data.text === last) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return got;
}

/** Wait until the process's feed has subscribed (a viewer has been given the log's events). */
const subscribed = (runId: string) =>
  new Promise<void>((resolve) => {
    const poll = async () => {
      const [, n] = (await redis.pubsub('NUMSUB', keys.events(scope, runId))) as [string, number];
      if (Number(n) > 0) resolve();
      else setTimeout(() => void poll(), 10);
    };
    void poll();
  });

describe('step-delta', () => {
  it('publishes only while the step runs that attempt, and never appends to the log', async () => {
    const id = await newRun();
    const logLength = () => redis.llen(keys.events(scope, id));
    expect(await store.steps.delta(scope, id, 'a', 1, 'early')).toBe(false); // pending
    await start(id, 'a');
    const before = await logLength();
    expect(await store.steps.delta(scope, id, 'a', 2, 'another attempt')).toBe(false);
    expect(await store.steps.delta(scope, id, 'a', 1, 'Hello')).toBe(true);
    expect(await logLength()).toBe(before);
    await store.steps.complete(scope, id, 'a', { output: 'Hello', input: {}, usage: { inputTokens: 1, outputTokens: 1 }, model: 'm' });
    expect(await store.steps.delta(scope, id, 'a', 1, 'late')).toBe(false);
    expect((await store.events.read(scope, id)).map((e) => e.type)).not.toContain('step.delta');
    expect(await store.steps.delta(scope, 'run_missing', 'a', 1, 'x')).toBe(false);
    expect(await redis.exists(keys.events(scope, 'run_missing'), keys.step(scope, 'run_missing', 'a'))).toBe(0);
  });

  it('reaches a viewer between the logged events it was published between', async () => {
    const id = await newRun();
    const seen = collect(id, 'two');
    await subscribed(id);
    await start(id, 'a'); // run.started
    await store.steps.delta(scope, id, 'a', 1, 'one ');
    await store.steps.progress(scope, id, 'a', 1, { chars: 4 });
    await store.steps.delta(scope, id, 'a', 1, 'two');
    const events = await seen;
    const logged = (await store.events.read(scope, id)).length;
    expect(events.map((e) => [e.type, e.id, e.data.text])).toEqual([
      ['run.queued', '1', undefined],
      ['run.started', String(logged - 1), undefined],
      ['step.delta', '', 'one '],
      ['step.progress', String(logged), undefined],
      ['step.delta', '', 'two'],
    ]);
    expect(events.find((e) => e.type === 'step.delta')).toMatchObject({ runId: id, stepId: 'a', data: { attempt: 1, text: 'one ' } });
  });

  it('reads a gap before a delta that follows it, and drops a delta published before an event the viewer was given', async () => {
    const id = await newRun();
    await start(id, 'a');
    const logged = (await store.events.read(scope, id)).length;
    const got: RunEvent[] = [];
    const seen = collect(id, 'after the gap', got);
    await subscribed(id);
    // The viewer has been given the log: what follows comes through the channel.
    await poll(
      'the log given',
      () => got.length,
      (n) => n === logged,
      { timeoutMs: 10_000, intervalMs: 10 },
    );
    const channel = keys.events(scope, id);
    const body = (text: string) => JSON.stringify({ type: 'step.delta', stepId: 'a', at: new Date().toISOString(), data: { attempt: 1, text } });
    // Published before the viewer's last event: late, dropped.
    await redis.publish(channel, `d${logged - 1} ${body('late')}`);
    // An event appended without its message reaching the viewer (a message lost), then a delta after it.
    await redis.rpush(channel, JSON.stringify({ type: 'step.progress', stepId: 'a', at: new Date().toISOString(), data: { attempt: 1, chars: 9 } }));
    await redis.publish(channel, `d${logged + 1} ${body('after the gap')}`);
    // Not a message of the feed: ignored.
    await redis.publish(channel, `dx ${body('bad')}`);
    const events = await seen;
    expect(events.slice(logged - 1).map((e) => [e.type, e.data.text])).toEqual([
      ['run.started', undefined],
      ['step.progress', undefined],
      ['step.delta', 'after the gap'],
    ]);
  });
});

/**
 * A viewer of run `id`: the raw messages on its channel, and the events the feed follows it with
 * until one of type `last` (or 10 s). Resolves once both have subscribed.
 */
async function watch(id: string, last: RunEvent['type']) {
  const channel = keys.events(scope, id);
  const listener = redis.duplicate();
  const messages: string[] = [];
  listener.on('message', (_channel: string, message: string) => messages.push(message));
  await listener.subscribe(channel);
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), 10_000);
  const got: RunEvent[] = [];
  const seen = (async () => {
    for await (const e of store.events.follow(scope, id, undefined, stop.signal)) {
      got.push(e);
      if (e.type === last) break;
    }
    clearTimeout(timer);
    return got;
  })();
  // The feed's subscriber and the listener.
  await poll(
    'subscribed',
    async () => Number(((await redis.pubsub('NUMSUB', channel)) as [string, number])[1]),
    (n) => n >= 2,
    { timeoutMs: 10_000, intervalMs: 10 },
  );
  return { channel, messages, got, seen, close: () => listener.quit() };
}

describe("a step's start", () => {
  it('reaches a viewer as both starts of the run, in order, from one message: the one before is read from the log', async () => {
    const id = await newRun();
    const { messages, seen, close } = await watch(id, 'step.started');
    const begin = await store.steps.begin(scope, id, 'a', { fast: true, deps: [], extra: [], needsOutput: () => false, maxAttempts: 3 });
    expect(begin).toMatchObject({ mode: 'started', runStatus: 'queued' });
    const events = await seen;
    expect(events.map((e) => [e.type, e.id])).toEqual([
      ['run.queued', '1'],
      ['run.started', '2'],
      ['step.started', '3'],
    ]);
    await poll(
      'the message',
      () => messages.length,
      (n) => n > 0,
      { timeoutMs: 10_000, intervalMs: 10 },
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^3 \{"type":"step\.started"/);
    await close();
  });
});

describe("a single-step run's finish", () => {
  it('reaches a viewer as step.completed then run.finished from one message: the one before is read from the compacted log', async () => {
    const id = unique('run');
    await store.records.create(scope, runRecord(id), {
      outputSteps: ['a'],
      definition: { name: 't', steps: ['a'] },
      steps: [step('a')],
      refIds: [],
    });
    const { channel, messages, got, seen, close } = await watch(id, 'run.finished');
    await store.steps.begin(scope, id, 'a', { fast: true, deps: [], extra: [], needsOutput: () => false, maxAttempts: 3 });
    // The viewer has been given the log so far: what follows comes through the channel.
    await poll(
      'the log given',
      () => got.length,
      (n) => n === 3,
      { timeoutMs: 10_000, intervalMs: 10 },
    );
    const done = await store.steps.complete(
      scope,
      id,
      'a',
      { output: 'Hello', input: {}, usage: { inputTokens: 1, outputTokens: 1 }, model: 'm' },
      { finishRun: true },
    );
    expect(done).toMatchObject({ recorded: true, finished: 'succeeded' });
    await seen;
    // Compacted at once (the live log is gone), the run kept the retention period.
    expect(await redis.exists(channel)).toBe(0);
    expect(await redis.ttl(keys.run(scope, id))).toBeGreaterThan(590);
    expect(got.map((e) => [e.type, e.id])).toEqual([
      ['run.queued', '1'],
      ['run.started', '2'],
      ['step.started', '3'],
      ['step.completed', '4'],
      ['run.finished', '5'],
    ]);
    expect(got[3]).toMatchObject({ runId: id, stepId: 'a', data: { usage: { inputTokens: 1, outputTokens: 1 } } });
    await poll(
      'the messages',
      () => messages.length,
      (n) => n >= 2,
      { timeoutMs: 10_000, intervalMs: 10 },
    );
    expect(messages.map((m) => m.slice(0, m.indexOf(' ')))).toEqual(['3', '5']);
    expect(messages[1]).toMatch(/^5 \{"type":"run\.finished"/);
    await close();
  });
});
