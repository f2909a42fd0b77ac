/**
 * A scope on every key: two workspaces of one cell hold runs of the same shape, even under the
 * same run id, and neither sees the other's (records, steps, events, listings, idempotency
 * keys, definitions); the cell's own keys (queued runs) hold both, each read back with its scope.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelMessage, keys, parseCancelMessage, parseRunKey } from '../../src/store/keys.js';
import { RunStore, type NewStep } from '../../src/store/run-store.js';
import { cellOf, scopeOf } from '../../src/store/scope.js';
import type { RunRecord } from '../../src/model/run.js';
import { cleanupPrefix, newRedis, testPrefix, unique } from '../helpers/redis.js';
import { runRecord } from '../helpers/records.js';

const prefix = testPrefix('scope');
const cell = cellOf(prefix);
const mine = scopeOf(cell);
const theirs = scopeOf(cell, 'acme');
let redis: Redis;
let store: RunStore;

beforeAll(() => {
  redis = newRedis();
  store = new RunStore({ redis, retentionSeconds: 600, outbox: false });
});

afterAll(async () => {
  store.close();
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

const steps: NewStep[] = [
  { stepId: 'a', kind: 'agent', agent: 'x', parent: null, dependsOn: [], optional: false },
  { stepId: 'b', kind: 'agent', agent: 'x', parent: null, dependsOn: ['a'], optional: false },
];

const record = (id: string, workspaceId: string, topic: string): RunRecord => runRecord(id, { workspaceId, workflow: 'pair', input: { topic }, agents: ['x'] });

/** The same run id, the same workflow, in both workspaces. */
async function twins(): Promise<string> {
  const id = unique('run');
  const definition = { name: 'pair', steps: ['a', 'b'] };
  for (const [scope, topic] of [
    [mine, 'mine'],
    [theirs, 'theirs'],
  ] as const)
    await store.records.create(scope, record(id, scope.workspace, topic), { outputSteps: ['b'], definition, steps, refIds: [] });
  return id;
}

describe('two workspaces of one cell', () => {
  it('keep their own run under the same id: record, steps, events and definition', async () => {
    const id = await twins();
    const start = { from: ['pending' as const], to: 'running' as const, attemptsDelta: 1, event: { type: 'step.started' as const } };
    expect((await store.steps.transition(theirs, id, 'a', start)).applied).toBe(true);
    await store.steps.complete(theirs, id, 'a', { output: 'their answer', input: null, usage: null, model: null });

    const [m, t] = [await store.records.get(mine, id), await store.records.get(theirs, id)];
    expect(m?.run).toMatchObject({ workspaceId: 'default', input: { topic: 'mine' }, status: 'queued' });
    expect(m?.steps.map((s) => [s.stepId, s.status, s.output])).toEqual([
      ['a', 'pending', null],
      ['b', 'pending', null],
    ]);
    expect(t?.run).toMatchObject({ workspaceId: 'acme', input: { topic: 'theirs' }, status: 'running' });
    expect(t?.steps.map((s) => [s.stepId, s.status, s.output])).toEqual([
      ['a', 'succeeded', 'their answer'],
      ['b', 'pending', null],
    ]);
    expect((await store.events.read(mine, id)).map((e) => e.type)).toEqual(['run.queued']);
    expect((await store.events.read(theirs, id)).map((e) => e.type)).toEqual(['run.queued', 'run.started', 'step.started', 'step.completed']);
    expect(await store.records.definition(mine, id)).toEqual({ name: 'pair', steps: ['a', 'b'] });
    expect(await store.records.definition(theirs, id)).toEqual({ name: 'pair', steps: ['a', 'b'] });

    // Finishing one ends only that one.
    expect((await store.endings.finish(mine, id, 'cancelled', { reason: 'run cancelled' })).applied).toBe(true);
    expect(await store.records.status(mine, id)).toBe('cancelled');
    expect(await store.records.status(theirs, id)).toBe('running');
  });

  it('list only their own runs, and a run of one is not found in the other', async () => {
    const only = unique('run');
    await store.records.create(theirs, record(only, 'acme', 'alone'), { outputSteps: ['b'], definition: undefined, steps, refIds: [] });
    const listed = async (scope: typeof mine) => (await store.records.list(scope, { limit: 100 })).runs.map((r) => r.id);
    expect(await listed(theirs)).toContain(only);
    expect(await listed(mine)).not.toContain(only);
    expect(await store.records.get(mine, only)).toBeNull();
    expect(await store.records.status(mine, only)).toBeNull();
    expect(await store.events.read(mine, only)).toEqual([]);
    expect(await store.records.createdBetween(mine, 0, Date.now() + 1000, 100)).not.toContain(only);
    expect((await store.endings.finish(mine, only, 'cancelled', { reason: 'run cancelled' })).applied).toBe(false);
  });

  it('claim the same idempotency key each for itself', async () => {
    const key = unique('idem');
    expect(await store.records.claimIdempotencyKey(mine, key, 'run_mine', 'h1')).toBeNull();
    expect(await store.records.claimIdempotencyKey(theirs, key, 'run_theirs', 'h2')).toBeNull();
    expect(await store.records.claimIdempotencyKey(mine, key, 'run_other', 'h3')).toEqual({ runId: 'run_mine', requestHash: 'h1' });
    await store.records.releaseIdempotencyKey(theirs, key);
    expect(await store.records.claimIdempotencyKey(mine, key, 'run_other', 'h3')).toEqual({ runId: 'run_mine', requestHash: 'h1' });
  });

  it('share the cell’s set of queued runs, each run read back with its own scope', async () => {
    const id = await twins();
    const queued = await store.records.queuedBefore(cell, Date.now() + 1000, 1000);
    const ours = queued.filter((r) => r.runId === id);
    expect(ours.map((r) => r.scope).sort((x, y) => x.workspace.localeCompare(y.workspace))).toEqual([theirs, mine]);
    await store.records.touchQueued(cell, [], ours);
    expect((await store.records.queuedBefore(cell, Date.now() + 1000, 1000)).filter((r) => r.runId === id)).toEqual([]);
    // A run the sweeper read as queued that started (left the set) before it looked again is not put back.
    await store.records.touchQueued(cell, ours);
    expect((await store.records.queuedBefore(cell, Date.now() + 1000, 1000)).filter((r) => r.runId === id)).toEqual([]);
  });
});

describe('the key layout', () => {
  it('puts a run’s and a workspace’s keys under the workspace, and the cell’s under the tag alone', () => {
    const runKeys = [keys.run, keys.runSteps, keys.runRefs, keys.events, keys.feedback, keys.runHolds, keys.stepPrefix].map((k) => k(theirs, 'run_1'));
    for (const k of [...runKeys, keys.step(theirs, 'run_1', 's'), keys.runIndex(theirs), keys.idempotency(theirs, 'k'), keys.definition(theirs, 'd')])
      expect(k.startsWith(`${prefix}:ws:acme:`), k).toBe(true);
    for (const k of [keys.queuedRuns(theirs), keys.outbox(theirs), keys.cancelChannel(theirs), keys.limit(theirs, 'openai'), keys.limitPaused(theirs)])
      expect(k.includes(':ws:'), k).toBe(false);
  });

  it('reads a run back from its key, and nothing from a key of another cell or kind', () => {
    expect(parseRunKey(cell, keys.run(theirs, 'run_1'))).toEqual({ scope: theirs, runId: 'run_1' });
    expect(parseRunKey(cell, keys.run(scopeOf(cellOf('{other}'), 'acme'), 'run_1'))).toBeUndefined();
    expect(parseRunKey(cell, keys.runSteps(theirs, 'run_1'))).toBeUndefined();
    expect(parseRunKey(cell, 'run_1')).toBeUndefined();
  });

  it('carries the workspace in a cancel message', () => {
    expect(parseCancelMessage(cancelMessage(theirs, 'run_1'))).toEqual({ workspace: 'acme', runId: 'run_1', stepIds: [] });
    expect(parseCancelMessage(cancelMessage(mine, 'run_1', ['a', 'b']))).toEqual({ workspace: 'default', runId: 'run_1', stepIds: ['a', 'b'] });
  });

  it('refuses a workspace id that could name other keys', () => {
    for (const bad of ['a:b', 'a b', '', 'A*'] as const) expect(() => scopeOf(cell, bad), bad).toThrow(/not a workspace id/);
  });
});
