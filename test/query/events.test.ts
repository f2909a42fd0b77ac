/**
 * A run's events as the API serves them: every viewer of a process shares one Redis subscriber
 * connection, each gets the whole ordered log from where it asked (no gap, no duplicate, also
 * across a lost subscriber connection) and its stream ends after `run.finished`; and a run
 * keeps the definition it executes, readable with `?include=definition`.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CompiledWorkflow } from '../../src/kinds/definition.js';
import { assertAllClosed, startHarness, type Harness } from '../helpers/harness.js';
import { readEventStream } from '../helpers/sse.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'events',
    agents: { slow: { provider: 'echo', echo: { latencyMs: 300 } } },
    workflows: [
      {
        name: 'three',
        input: { topic: { type: 'string' } },
        steps: [{ sequential: ['a', 'b', 'c'].map((id) => ({ id, agent: 'slow', input: { task: `${id}: {{input.topic}}` } })) }],
      },
    ],
  });
});

afterAll(async () => {
  await h?.close();
  assertAllClosed();
});

const submit = async (topic: string) => (await h.request('POST', '/v1/runs', { workflow: 'three', input: { topic } })).body.id as string;

describe('the event stream', () => {
  it('serves many viewers of many runs over one Redis connection, each the whole log in order, ending after run.finished', async () => {
    const duplicate = vi.spyOn(h.system.api.redis, 'duplicate');
    try {
      const runs = await Promise.all(['x', 'y', 'z'].map(submit));
      // Two viewers per run, from the start; one more joins each run while it is under way.
      const early = runs.flatMap((id) => [readEventStream(h.baseUrl, id), readEventStream(h.baseUrl, id)]);
      // Polled from the start: each run lasts three steps of 300 ms, so all six are followed at once.
      await expect.poll(() => h.system.api.store.events.feedStats()).toEqual({ runs: 3, viewers: 6 });
      await h.waitUntil(runs[0]!, (r) => r.steps[0]!.status === 'succeeded');
      const late = runs.map((id) => readEventStream(h.baseUrl, id));
      const streams = await Promise.all([...early, ...late]);
      expect(duplicate).toHaveBeenCalledTimes(1); // the feed's one subscriber
      for (const [i, s] of streams.entries()) {
        const runId = runs[i < 6 ? Math.floor(i / 2) : i - 6]!;
        const log = await h.system.engine.store.events.read(h.system.scope(), runId);
        expect(s.status).toBe(200);
        expect(s.events.map((e) => e.id)).toEqual(log.map((e) => e.id));
        expect(s.events.at(-1)!.event).toBe('run.finished');
      }
      // Nobody is left following.
      await expect.poll(() => h.system.api.store.events.feedStats()).toEqual({ runs: 0, viewers: 0 });
    } finally {
      duplicate.mockRestore();
    }
  });

  it('gives a viewer who joins from the middle exactly what follows its Last-Event-ID while others watch', async () => {
    const id = await submit('middle');
    const first = readEventStream(h.baseUrl, id);
    await h.waitUntil(id, (r) => r.steps[1]!.status === 'running');
    const sofar = await h.system.engine.store.events.read(h.system.scope(), id);
    const pivot = sofar.at(-1)!.id;
    const tail = await readEventStream(h.baseUrl, id, { 'Last-Event-ID': pivot });
    const all = await h.system.engine.store.events.read(h.system.scope(), id);
    expect(tail.events.map((e) => e.id)).toEqual(all.slice(all.findIndex((e) => e.id === pivot) + 1).map((e) => e.id));
    expect(tail.events.length).toBeGreaterThan(0);
    expect((await first).events.map((e) => e.id)).toEqual(all.map((e) => e.id));
  });

  it('hands every viewer every event once, in order, when its subscriber connection is killed mid-run', async () => {
    const id = await submit('killed');
    const viewers = [readEventStream(h.baseUrl, id), readEventStream(h.baseUrl, id)];
    await expect.poll(() => h.system.api.store.events.feedStats().viewers).toBe(2);
    // Drop the feed's subscriber twice while the run goes on (it reconnects and subscribes
    // again by itself): what is published meanwhile is lost on the channel and must be read
    // from the log. The subscriber is the feed's own; reached here through its private field.
    const subscriber = (h.system.api.store.events as unknown as { feed: { subscriber: Redis } }).feed.subscriber;
    for (const step of [0, 1]) {
      await h.waitUntil(id, (r) => r.steps[step]!.status === 'running');
      subscriber.disconnect(true);
    }
    const streams = await Promise.all(viewers);
    const log = await h.system.engine.store.events.read(h.system.scope(), id);
    expect(log.at(-1)!.type).toBe('run.finished');
    for (const v of streams) {
      expect(v.events.map((e) => e.id)).toEqual(log.map((e) => e.id));
      expect(v.events.at(-1)!.event).toBe('run.finished');
    }
  });

  it('reads what was published while its subscriber was away from the log, the last event included', async () => {
    const id = await submit('away');
    const viewer = readEventStream(h.baseUrl, id);
    await expect.poll(() => h.system.api.store.events.feedStats().viewers).toBe(1);
    const subscriber = (h.system.api.store.events as unknown as { feed: { subscriber: Redis } }).feed.subscriber;
    subscriber.disconnect(); // no reconnect: the run ends while nobody listens
    await h.waitForRun(id);
    await subscriber.connect();
    const log = await h.system.engine.store.events.read(h.system.scope(), id);
    expect((await viewer).events.map((e) => e.id)).toEqual(log.map((e) => e.id));
  });

  it('keeps serving the other viewers of a run when one asks for a point past its end', async () => {
    const id = await submit('ahead');
    const ahead = new AbortController();
    // An id far ahead of the run's log (from another run, or made up): nothing comes for it yet.
    const far = fetch(`${h.baseUrl}/v1/runs/${id}/events`, { headers: { 'Last-Event-ID': '99999999999999' }, signal: ahead.signal })
      .then((r) => r.text())
      .catch(() => '');
    await expect.poll(() => h.system.api.store.events.feedStats().viewers).toBe(1);
    const normal = await readEventStream(h.baseUrl, id);
    expect(normal.events.map((e) => e.id)).toEqual((await h.system.engine.store.events.read(h.system.scope(), id)).map((e) => e.id));
    expect(normal.events.at(-1)!.event).toBe('run.finished');
    ahead.abort();
    await far;
    await expect.poll(() => h.system.api.store.events.feedStats()).toEqual({ runs: 0, viewers: 0 });
  });

  it('refuses an event id that is not a whole number below 10^15 with a 400 that names it', async () => {
    const id = await submit('big');
    for (const bad of ['18446744073709551616', '1000000000000000', '1732170000000-0', '-1', '1.5']) {
      const res = await h.request('GET', `/v1/runs/${id}/events?after=${encodeURIComponent(bad)}`);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain(`after "${bad}" is not an event id`);
    }
    const header = await h.request('GET', `/v1/runs/${id}/events`, undefined, { 'Last-Event-ID': 'x' });
    expect(header.status).toBe(400);
    expect(header.body.error.message).toContain('Last-Event-ID "x" is not an event id');
    await h.waitForRun(id);
  });
});

describe('the cap on event streams', () => {
  it('answers 503 naming SWITCHYARD_MAX_EVENT_STREAMS once a process serves that many', async () => {
    const capped = await startHarness({
      name: 'events-cap',
      agents: { slow: { provider: 'echo', echo: { latencyMs: 400 } } },
      env: { SWITCHYARD_MAX_EVENT_STREAMS: '1' },
    });
    try {
      const id = (await capped.request('POST', '/v1/runs', { agent: 'slow', input: { task: 'x' } })).body.id as string;
      const first = readEventStream(capped.baseUrl, id);
      await expect.poll(() => capped.system.api.store.events.feedStats().viewers).toBe(1);
      const second = await capped.request('GET', `/v1/runs/${id}/events`);
      expect(second.status).toBe(503);
      expect(second.body.error.message).toContain('SWITCHYARD_MAX_EVENT_STREAMS');
      expect((await first).events.at(-1)!.event).toBe('run.finished');
    } finally {
      await capped.close();
    }
  });
});

describe('the definition a run executes', () => {
  it('is kept with the run and returned with ?include=definition', async () => {
    const id = await submit('def');
    const plain = await h.request('GET', `/v1/runs/${id}`);
    expect(plain.body.definition).toBeUndefined();
    const withDef = await h.request('GET', `/v1/runs/${id}?include=definition`);
    expect(withDef.status).toBe(200);
    const def = CompiledWorkflow.parse(withDef.body.definition);
    expect(def).toEqual((await h.request('GET', '/v1/workflows/three')).body);
    expect(def.steps.map((s) => [s.id, s.kind, s.dependsOn])).toEqual([
      ['a', 'agent', []],
      ['b', 'agent', ['a']],
      ['c', 'agent', ['b']],
    ]);
    await h.waitForRun(id);
  });

  it('answers 422 naming what ?include may hold', async () => {
    const id = await submit('bad-include');
    const res = await h.request('GET', `/v1/runs/${id}?include=definition,secrets`);
    expect(res.status).toBe(422);
    expect(res.body.error.issues[0].path).toBe('query.include.1');
    await h.waitForRun(id);
  });
});
