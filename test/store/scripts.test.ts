/**
 * The run-state scripts on the real Redis, through their typed wrappers (RunStore): what each
 * does on a missing run, the gates that stop late or stale writes, transitions racing each
 * other, and the fast path of step-begin agreeing with the engine's decision.
 */
import { ReplyError, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decide } from '../../src/engine/decide.js';
import { keys } from '../../src/store/keys.js';
import { isTransientWriteError } from '../../src/store/reachable.js';
import { CREATE_IN_SCRIPT } from '../../src/store/scripts/create-run.js';
import { RunStore, type NewStep } from '../../src/store/run-store.js';
import { cellOf, scopeOf } from '../../src/store/scope.js';
import { LOST_STEP_ERROR, type RunRecord, type StepStatus } from '../../src/model/run.js';
import { cleanupPrefix, newRedis, testPrefix, unique } from '../helpers/redis.js';
import { runRecord } from '../helpers/records.js';

let redis: Redis;
let store: RunStore;
const prefix = testPrefix('scripts');
const scope = scopeOf(cellOf(prefix));

beforeAll(() => {
  redis = newRedis();
  store = new RunStore({ redis, retentionSeconds: 600, outbox: true });
});

afterAll(async () => {
  store.close();
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

const record = (id: string): RunRecord => runRecord(id);

const newStep = (stepId: string, dependsOn: string[] = [], optional = false): NewStep => ({
  stepId,
  kind: 'agent',
  agent: 'a',
  parent: null,
  dependsOn,
  optional,
});

/** A run with steps (`a`, then whatever is given), written by create-run. */
async function newRun(steps: NewStep[] = [newStep('a')], output = [steps.at(-1)!.stepId]): Promise<string> {
  const id = unique('run');
  await store.records.create(scope, record(id), {
    outputSteps: output,
    definition: { name: 'test', steps: steps.map((s) => s.stepId) },
    steps,
    refIds: [`${id}.a~ref~b`],
  });
  return id;
}

/** Put a step in a status directly (a state a job may find). */
const setStatus = (runId: string, stepId: string, status: StepStatus, attempts?: number) =>
  redis.hset(keys.step(scope, runId, stepId), 'status', JSON.stringify(status), ...(attempts === undefined ? [] : ['attempts', String(attempts)]));

const start = (runId: string, stepId: string) =>
  store.steps.transition(scope, runId, stepId, { from: ['pending', 'retrying'], to: 'running', attemptsDelta: 1 });
const answer = { output: 'the answer', input: { task: 't' }, usage: { inputTokens: 7, outputTokens: 3 }, model: 'm' };
const eventTypes = async (runId: string, stepId?: string) =>
  (await store.events.read(scope, runId)).filter((e) => stepId === undefined || e.stepId === stepId).map((e) => e.type);

describe('create-run', () => {
  it("writes the run, its steps in order, its refs, its index entry, its event and the definition's outbox entry at once", async () => {
    const id = await newRun([newStep('a'), newStep('b', ['a']), newStep('c', ['a', 'b'], true)]);
    expect(await redis.lrange(keys.runSteps(scope, id), 0, -1)).toEqual(['a', 'b', 'c']);
    expect(await redis.smembers(keys.runRefs(scope, id))).toEqual([`${id}.a~ref~b`]);
    expect(await redis.zscore(keys.runIndex(scope), id)).not.toBeNull();
    const state = await store.records.get(scope, id);
    expect(state?.run).toEqual(record(id) && { ...record(id), createdAt: state?.run.createdAt });
    expect(state?.steps.map((s) => [s.stepId, s.status, s.dependsOn, s.optional, s.parent, s.attempts])).toEqual([
      ['a', 'pending', [], false, null, 0],
      ['b', 'pending', ['a'], false, null, 0],
      ['c', 'pending', ['a', 'b'], true, null, 0],
    ]);
    expect(await store.records.definition(scope, id)).toEqual({ name: 'test', steps: ['a', 'b', 'c'] });
    expect(await eventTypes(id)).toEqual(['run.queued']);
    const outbox = await redis.xrange(keys.outbox(cellOf(prefix)), '-', '+');
    const mine = outbox.filter(([, f]) => f[3] === id);
    expect(mine).toHaveLength(1);
    expect(JSON.parse(mine[0]![1][mine[0]![1].indexOf('definition') + 1]!)).toEqual({ name: 'test', steps: ['a', 'b', 'c'] });
  });

  it('writes a large run in parts, with more refs than Lua unpacks at once, and stops at a part whose run was cancelled meanwhile', async () => {
    const id = unique('run');
    const steps = Array.from({ length: 2 * CREATE_IN_SCRIPT + 5 }, (_, i) => newStep(`s${i}`));
    const refIds = Array.from({ length: 9000 }, (_, i) => `${id}.r${i}`);
    await store.records.create(scope, record(id), { outputSteps: ['s0'], definition: { name: 'big' }, steps, refIds });
    expect(await redis.llen(keys.runSteps(scope, id))).toBe(steps.length);
    expect(await redis.lindex(keys.runSteps(scope, id), -1)).toBe(`s${steps.length - 1}`);
    expect(await redis.scard(keys.runRefs(scope, id))).toBe(9000);
    // A run cancelled while its parts are written: the next part adds nothing and says why.
    const gone = unique('run');
    // The cancel lands just before the second part is sent.
    const send = store.redis.sendCommand.bind(store.redis) as (c: { name: string }) => Promise<unknown>;
    let scripts = 0;
    const spy = vi.spyOn(store.redis, 'sendCommand').mockImplementation((c: { name: string }) => {
      if (c.name === 'evalsha' && ++scripts === 2) return store.endings.finish(scope, gone, 'cancelled', { reason: 'cancelled meanwhile' }).then(() => send(c));
      return send(c);
    });
    try {
      await expect(store.records.create(scope, record(gone), { outputSteps: ['s0'], definition: { name: 'big' }, steps, refIds: [] })).rejects.toThrow(
        /ended while it was being written \(the run is cancelled\)/,
      );
    } finally {
      spy.mockRestore();
    }
    expect(await redis.llen(keys.runSteps(scope, gone))).toBeLessThan(steps.length);
  });

  it('refuses to write a run id twice', async () => {
    const id = await newRun();
    await expect(store.records.create(scope, record(id), { outputSteps: ['a'], definition: {}, steps: [newStep('a')], refIds: [] })).rejects.toThrow(
      'run already exists',
    );
  });
});

describe('every script on a run that does not exist', () => {
  it('changes nothing and says so', async () => {
    const id = 'run_missing';
    expect(await store.steps.begin(scope, id, 'a', { fast: true, deps: [], extra: [], needsOutput: () => false, maxAttempts: 3 })).toEqual({ mode: 'missing' });
    expect(await store.steps.transition(scope, id, 'a', { from: ['pending'], to: 'running' })).toEqual({ applied: false, status: 'missing', attempts: 0 });
    expect(await store.steps.complete(scope, id, 'a', answer)).toEqual({ recorded: false, status: 'missing' });
    expect(await store.steps.checkpoint(scope, id, 'a', 1, { x: 1 })).toBe(false);
    expect(await store.steps.progress(scope, id, 'a', 1, { chars: 1 })).toBe(false);
    expect(await store.steps.add(scope, id, { parent: 'a', attempt: 1, steps: [newStep('a.1')], refIds: [], agents: [] })).toEqual({
      applied: false,
      parentStatus: 'missing',
    });
    expect(await store.endings.finish(scope, id, 'cancelled')).toEqual({ applied: false, status: 'missing' });
    expect(await redis.exists(keys.run(scope, id), keys.step(scope, id, 'a'), keys.events(scope, id), keys.step(scope, id, 'a.1'))).toBe(0);
  });
});

describe('step-begin and step-transition', () => {
  it('starts on the fast path: attempts counted, run started, both events', async () => {
    const id = await newRun();
    const begin = await store.steps.begin(scope, id, 'a', { fast: true, deps: [], extra: [], needsOutput: () => false, maxAttempts: 3 });
    expect(begin).toMatchObject({ mode: 'started', attempts: 1, runInput: { topic: 'x' }, checkpoint: null });
    expect((await store.records.get(scope, id))?.run.status).toBe('running');
    expect(await eventTypes(id)).toEqual(['run.queued', 'run.started', 'step.started']);
    expect((await store.events.read(scope, id)).at(-1)?.data).toEqual({ attempt: 1 });
  });

  it('only reads when the step or its run has ended, or when the caller asks for the slow path', async () => {
    const id = await newRun([newStep('a'), newStep('b', ['a'])]);
    expect(await store.steps.begin(scope, id, 'b', { fast: false, deps: ['a'], extra: [], needsOutput: () => true, maxAttempts: 3 })).toMatchObject({
      mode: 'read',
      stepStatus: 'pending',
      reads: [{ stepId: 'a', status: 'pending', optional: false, output: null }],
    });
    // Ended while `a` runs: the run keeps its keys (a's answer may still come) and `b` is only read.
    await start(id, 'a');
    await store.endings.finish(scope, id, 'cancelled', { reason: 'stop' });
    expect(await store.steps.begin(scope, id, 'b', { fast: true, deps: ['a'], extra: [], needsOutput: () => true, maxAttempts: 3 })).toMatchObject({
      mode: 'read',
      stepStatus: 'cancelled',
      runStatus: 'cancelled',
      reads: [],
    });
    // Ended with nothing running: compacted, its steps are no more (a job delivered now ends at once).
    const other = await newRun([newStep('a'), newStep('b', ['a'])]);
    await store.endings.finish(scope, other, 'cancelled', { reason: 'stop' });
    expect(await store.steps.begin(scope, other, 'b', { fast: true, deps: ['a'], extra: [], needsOutput: () => true, maxAttempts: 3 })).toEqual({
      mode: 'missing',
    });
  });

  it('applies a transition only from the statuses it names, counting attempts up and down', async () => {
    const id = await newRun();
    expect(await start(id, 'a')).toEqual({ applied: true, status: 'running', attempts: 1 });
    expect(await start(id, 'a')).toEqual({ applied: false, status: 'running', attempts: 1 });
    // A worker whose attempt was taken over changes nothing.
    expect(await store.steps.transition(scope, id, 'a', { from: ['running'], to: 'failed', attempt: 2 })).toEqual({
      applied: false,
      status: 'running',
      attempts: 1,
    });
    // A rate-limited call gives its attempt back.
    expect(
      await store.steps.transition(scope, id, 'a', {
        from: ['running'],
        to: 'retrying',
        attemptsDelta: -1,
        event: { type: 'step.retrying', data: { reason: 'rate_limited' } },
      }),
    ).toEqual({ applied: true, status: 'retrying', attempts: 0 });
    expect((await store.events.read(scope, id)).at(-1)?.data).toEqual({ attempt: 0, reason: 'rate_limited' });
    expect(await start(id, 'a')).toEqual({ applied: true, status: 'running', attempts: 1 });
  });

  // The fast path must start a step only where decide() would start it (and always there).
  it("starts on its fast path exactly where the engine's decision is an unambiguous start", async () => {
    const selves: [StepStatus, number][] = [
      ['pending', 0],
      ['retrying', 1],
      ['retrying', 3],
      ['running', 1],
      ['waiting', 1],
      ['succeeded', 1],
      ['cancelled', 0],
    ];
    const depStates: [StepStatus, boolean][] = [
      ['succeeded', false],
      ['failed', true],
      ['failed', false],
      ['skipped', false],
      ['running', false],
      ['cancelled', false],
    ];
    for (const [self, attempts] of selves) {
      for (const [depStatus, depOptional] of depStates) {
        for (const runTerminal of [false, true]) {
          const id = await newRun([newStep('d', [], depOptional), newStep('s', ['d'])]);
          await setStatus(id, 'd', depStatus);
          await setStatus(id, 's', self, attempts);
          if (runTerminal) await redis.hset(keys.run(scope, id), 'status', '"cancelled"');
          const decision = decide({
            step: { dependsOn: ['d'], allowSkippedDeps: false },
            maxAttempts: 3,
            self: { status: self, attempts },
            run: { status: runTerminal ? 'cancelled' : 'queued' },
            deps: [{ stepId: 'd', status: depStatus, optional: depOptional }],
            scope: { input: {}, steps: {} },
          });
          const begin = await store.steps.begin(scope, id, 's', { fast: true, deps: ['d'], extra: [], needsOutput: () => false, maxAttempts: 3 });
          const unambiguous = decision.action === 'start' && !decision.recovered;
          expect(
            begin.mode === 'started',
            `self ${self} (${attempts} attempts), dependency ${depStatus}${depOptional ? ' (optional)' : ''}, run ${runTerminal ? 'ended' : 'live'}: decide says ${decision.action}`,
          ).toBe(unambiguous);
        }
      }
    }
  });
});

describe('step-complete', () => {
  it('records a result once; a second answer for the same step is kept as a late one, never as the result', async () => {
    const id = await newRun();
    await start(id, 'a');
    expect(await store.steps.complete(scope, id, 'a', answer)).toEqual({ recorded: true, status: 'succeeded' });
    expect(await store.steps.complete(scope, id, 'a', { ...answer, output: 'another' })).toEqual({ recorded: false, status: 'succeeded' });
    const [a] = (await store.records.get(scope, id))!.steps;
    expect(a).toMatchObject({ status: 'succeeded', output: 'the answer', usage: { inputTokens: 14, outputTokens: 6 } });
    expect(await eventTypes(id, 'a')).toEqual(['step.completed']);
  });

  it('applies a write once: the same write again (its reply lost) gets the same reply and adds nothing', async () => {
    const id = await newRun();
    await start(id, 'a');
    const write = { ...answer, writeId: 'w-1' };
    expect(await store.steps.complete(scope, id, 'a', write)).toEqual({ recorded: true, status: 'succeeded' });
    expect(await store.steps.complete(scope, id, 'a', write)).toEqual({ recorded: true, status: 'succeeded' });
    // Another write (another answer) is a late one, counted; it too is counted once.
    const late = { ...answer, output: 'another', writeId: 'w-2' };
    expect(await store.steps.complete(scope, id, 'a', late)).toEqual({ recorded: false, status: 'succeeded' });
    expect(await store.steps.complete(scope, id, 'a', late)).toEqual({ recorded: false, status: 'succeeded' });
    const [a] = (await store.records.get(scope, id))!.steps;
    // Two answers, each counted once.
    expect(a).toMatchObject({ status: 'succeeded', output: 'the answer', usage: { inputTokens: 14, outputTokens: 6 } });
    expect(await eventTypes(id, 'a')).toEqual(['step.completed']);
  });

  it('sets the record fields given with a result (what it keeps to debug its calls), beside what it publishes', async () => {
    const id = await newRun();
    await start(id, 'a');
    const debug = { attempt: 1, request: { model: 'm', messages: [{ role: 'user', content: 't' }] }, answer: { text: '{"x":1}', model: 'm' } };
    const calls = [{ turn: 1, id: 'c1', name: 'delegate', args: { agent: 'x' }, error: 'no agent "x"' }];
    const publish = { entries: [['x', 1]] as [string, unknown][], order: 0, authority: 1, byAuthority: false };
    expect(await store.steps.complete(scope, id, 'a', { ...answer, output: { x: 1 }, fields: { debug, calls }, publish })).toMatchObject({ recorded: true });
    const state = (await store.records.get(scope, id))!;
    expect(state.steps[0]).toMatchObject({ status: 'succeeded', output: { x: 1 }, debug, calls });
    expect(state.run.context).toEqual({ x: 1 });
  });

  it('keeps a paid answer that arrives after its run was cancelled: on the step, and in the run usage', async () => {
    const id = await newRun();
    await start(id, 'a');
    await store.endings.finish(scope, id, 'cancelled', { reason: 'run cancelled' });
    expect(await store.steps.complete(scope, id, 'a', answer)).toEqual({ recorded: false, status: 'cancelled' });
    const state = (await store.records.get(scope, id))!;
    expect(state.steps[0]).toMatchObject({ status: 'cancelled', output: 'the answer', usage: answer.usage, model: 'm' });
    expect(state.run).toMatchObject({ status: 'cancelled', usage: answer.usage });
  });
});

describe('writes with an id (a retry after a lost reply)', () => {
  const usage = { inputTokens: 7, outputTokens: 3 };
  it('step-transition applies a write once: the retry gets its reply again, with no second attempt change, usage or event', async () => {
    const id = await newRun();
    await start(id, 'a');
    const giveBack = {
      from: ['running'] as const,
      to: 'retrying' as const,
      attempt: 1,
      attemptsDelta: -1,
      usage,
      event: { type: 'step.retrying' as const },
      writeId: 'w-t',
    };
    expect(await store.steps.transition(scope, id, 'a', { ...giveBack, from: [...giveBack.from] })).toEqual({ applied: true, status: 'retrying', attempts: 0 });
    expect(await store.steps.transition(scope, id, 'a', { ...giveBack, from: [...giveBack.from] })).toEqual({ applied: true, status: 'retrying', attempts: 0 });
    // One that did not apply (the step is not running) is refused again, its usage kept once.
    const stale = { from: ['running' as const], to: 'failed' as const, attempt: 1, usage, writeId: 'w-s' };
    expect(await store.steps.transition(scope, id, 'a', stale)).toEqual({ applied: false, status: 'retrying', attempts: 0 });
    expect(await store.steps.transition(scope, id, 'a', stale)).toEqual({ applied: false, status: 'retrying', attempts: 0 });
    const [a] = (await store.records.get(scope, id))!.steps;
    expect(a).toMatchObject({ status: 'retrying', attempts: 0, usage: { inputTokens: 14, outputTokens: 6 } });
    expect(await eventTypes(id, 'a')).toEqual(['step.retrying']);
    // A waiting step resumed by a retried write gets its checkpoint again.
    await start(id, 'a');
    await store.steps.transition(scope, id, 'a', { from: ['running'], to: 'waiting', attempt: 1 });
    await store.steps.checkpoint(scope, id, 'a', 1, undefined);
    await redis.hset(keys.step(scope, id, 'a'), 'checkpoint', JSON.stringify({ decided: true }));
    const resume = { from: ['waiting' as const], to: 'running' as const, writeId: 'w-r' };
    expect(await store.steps.transition(scope, id, 'a', resume)).toEqual({ applied: true, status: 'running', attempts: 1, checkpoint: { decided: true } });
    expect(await store.steps.transition(scope, id, 'a', resume)).toEqual({ applied: true, status: 'running', attempts: 1, checkpoint: { decided: true } });
  });

  it('step-complete gives a retried write the budget verdict again (the first try put the run over its budget)', async () => {
    const id = unique('run');
    await store.records.create(
      scope,
      { ...record(id), budget: { maxTokens: 5 } },
      { outputSteps: ['a'], definition: { name: 'test', steps: ['a'] }, steps: [newStep('a')], refIds: [] },
    );
    await start(id, 'a');
    const write = { ...answer, writeId: 'w-b' };
    const first = await store.steps.complete(scope, id, 'a', write);
    expect(first).toMatchObject({ recorded: true, status: 'succeeded', budgetExceeded: expect.stringContaining('maxTokens 5') });
    expect(await store.steps.complete(scope, id, 'a', write)).toEqual(first);
    expect(JSON.parse((await redis.hget(keys.run(scope, id), 'spentTokens'))!)).toBe(10);
  });

  it("step-complete returns the run budget's 80% warning once, and again to a retried write (its reply lost)", async () => {
    const id = unique('run');
    await store.records.create(
      scope,
      { ...record(id), budget: { maxTokens: 100 } },
      { outputSteps: ['b'], definition: { name: 'test', steps: ['a', 'b'] }, steps: [newStep('a'), newStep('b')], refIds: [] },
    );
    await start(id, 'a');
    const write = { ...answer, usage: { inputTokens: 60, outputTokens: 25 }, writeId: 'w-warn' };
    const first = await store.steps.complete(scope, id, 'a', write);
    expect(first).toEqual({ recorded: true, status: 'succeeded', budgetWarning: { maxTokens: 100, spent: 85 } });
    expect(await store.steps.complete(scope, id, 'a', write)).toEqual(first);
    await start(id, 'b');
    expect(await store.steps.complete(scope, id, 'b', { ...answer, usage: { inputTokens: 2, outputTokens: 3 } })).toEqual({
      recorded: true,
      status: 'succeeded',
    });
    const warnings = (await store.events.read(scope, id)).filter((e) => e.type === 'budget.warning');
    expect(warnings.map((e) => e.data)).toEqual([{ maxTokens: 100, spent: 85 }]);
  });

  it("maxSteps: the start that reaches 80% of the limit returns the run budget's warning, by the fast path or a decided start, once", async () => {
    const begin = { deps: [], extra: [], needsOutput: () => false, maxAttempts: 3, countsStep: true };
    const decided = { from: ['pending' as const], to: 'running' as const, attemptsDelta: 1, countsStep: true, fields: { startedAt: new Date().toISOString() } };
    for (const fourth of ['fast', 'decided']) {
      const id = unique('run');
      const ids = ['a', 'b', 'c', 'd', 'e'];
      await store.records.create(
        scope,
        { ...record(id), budget: { maxSteps: 5 } },
        { outputSteps: ids, definition: { name: 'test', steps: ids }, steps: ids.map((s) => newStep(s)), refIds: [] },
      );
      const warnings = [];
      for (const s of ids) {
        const r =
          (s === 'd') === (fourth === 'fast')
            ? await store.steps.begin(scope, id, s, { ...begin, fast: true })
            : await store.steps.transition(scope, id, s, decided);
        expect('mode' in r ? r.mode === 'started' : r.applied, s).toBe(true);
        warnings.push('budgetWarning' in r ? r.budgetWarning : undefined);
      }
      expect(warnings, fourth).toEqual([undefined, undefined, undefined, { maxSteps: 5, spent: 4 }, undefined]);
      expect((await store.events.read(scope, id)).filter((e) => e.type === 'budget.warning').map((e) => e.data)).toEqual([{ maxSteps: 5, spent: 4 }]);
    }
  });

  it('maxSteps: steps starting at once (fast path and decided starts mixed) never start more than the limit; a step is counted once', async () => {
    const id = unique('run');
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    await store.records.create(
      scope,
      { ...record(id), budget: { maxSteps: 3 } },
      { outputSteps: ids, definition: { name: 'test', steps: ids }, steps: ids.map((s) => newStep(s)), refIds: [] },
    );
    const begin = { deps: [], extra: [], needsOutput: () => false, maxAttempts: 3, countsStep: true };
    const replies = await Promise.all(
      ids.map((s, i) =>
        i % 2 === 0
          ? store.steps.begin(scope, id, s, { ...begin, fast: true })
          : store.steps.transition(scope, id, s, {
              from: ['pending'],
              to: 'running',
              attemptsDelta: 1,
              countsStep: true,
              fields: { startedAt: new Date().toISOString() },
            }),
      ),
    );
    const started = replies.filter((r) => ('mode' in r ? r.mode === 'started' : r.applied));
    const refused = replies.map((r) => ('mode' in r ? (r.mode === 'over' ? r.reason : undefined) : r.over)).filter((r) => r !== undefined);
    expect(started).toHaveLength(3);
    expect(refused).toHaveLength(3);
    for (const why of refused) expect(why).toMatch(/^budget exceeded: step "[a-f]" would pass maxSteps 3 \(3 steps started\)$/);
    expect(await redis.hget(keys.run(scope, id), 'spentSteps')).toBe('3');
    // A started step starting again (a retry, a recovered attempt) is not counted again.
    const again = ids.find((s, i) => ('mode' in replies[i]! ? replies[i].mode === 'started' : replies[i]!.applied))!;
    await setStatus(id, again, 'retrying');
    expect(await store.steps.begin(scope, id, again, { ...begin, fast: true })).toMatchObject({ mode: 'started' });
    expect(await redis.hget(keys.run(scope, id), 'spentSteps')).toBe('3');
  });

  it('recognises a write retried after another delivery wrote in between', async () => {
    const id = await newRun();
    await start(id, 'a');
    const mine = { ...answer, writeId: 'w-mine' };
    expect(await store.steps.checkpoint(scope, id, 'a', 1, { mine: true }, answer.usage, 'w-cp')).toBe(true);
    expect(await store.steps.complete(scope, id, 'a', mine)).toEqual({ recorded: true, status: 'succeeded' });
    // A stale delivery's late answer lands, then a retry of each.
    const theirs = { ...answer, output: 'stale', writeId: 'w-theirs' };
    expect(await store.steps.complete(scope, id, 'a', theirs)).toEqual({ recorded: false, status: 'succeeded' });
    expect(await store.steps.complete(scope, id, 'a', mine)).toEqual({ recorded: true, status: 'succeeded' });
    expect(await store.steps.complete(scope, id, 'a', theirs)).toEqual({ recorded: false, status: 'succeeded' });
    expect(await store.steps.checkpoint(scope, id, 'a', 1, { mine: true }, answer.usage, 'w-cp')).toBe(true);
    const [a] = (await store.records.get(scope, id))!.steps;
    expect(a).toMatchObject({ output: 'the answer', usage: { inputTokens: 21, outputTokens: 9 } });
  });

  it('tells a write error that may pass (no reply, a server state) from one that will not (a script error)', async () => {
    const scriptError = await redis.eval("error('a bug')", 0).catch((e: unknown) => e);
    expect(scriptError).toBeInstanceOf(ReplyError);
    expect(isTransientWriteError(scriptError)).toBe(false);
    expect(isTransientWriteError(new TypeError('Converting circular structure to JSON'))).toBe(false);
    expect(isTransientWriteError(new ReplyError('OOM command not allowed when used memory > maxmemory'))).toBe(true);
    expect(isTransientWriteError(new ReplyError("READONLY You can't write against a read only replica."))).toBe(true);
    expect(isTransientWriteError(new Error('Command timed out'))).toBe(true);
    expect(isTransientWriteError(new Error('Connection is closed.'))).toBe(true);
  });

  it('step-checkpoint applies a write once, saved or not', async () => {
    const id = await newRun();
    await start(id, 'a');
    expect(await store.steps.checkpoint(scope, id, 'a', 1, { round: 1 }, usage, 'w-c')).toBe(true);
    expect(await store.steps.checkpoint(scope, id, 'a', 1, { round: 1 }, usage, 'w-c')).toBe(true);
    expect(await store.steps.checkpoint(scope, id, 'a', 2, { round: 2 }, usage, 'w-d')).toBe(false);
    expect(await store.steps.checkpoint(scope, id, 'a', 2, { round: 2 }, usage, 'w-d')).toBe(false);
    const [a] = (await store.records.get(scope, id))!.steps;
    expect(a).toMatchObject({ usage: { inputTokens: 14, outputTokens: 6 } });
    expect(JSON.parse((await redis.hget(keys.step(scope, id, 'a'), 'checkpoint'))!)).toEqual({ round: 1 });
  });
});

describe('racing transitions', () => {
  it('a result and a cancel racing: whichever lands first, the answer and its usage are kept exactly once', async () => {
    const outcomes = new Set<boolean>();
    for (let i = 0; i < 20; i++) {
      const id = await newRun();
      await start(id, 'a');
      // Sent back to back, in turn one order and the other (Redis applies them as sent).
      const complete = () => store.steps.complete(scope, id, 'a', answer);
      const cancel = () => store.endings.finish(scope, id, 'cancelled', { reason: 'race' });
      const [done, halted] =
        i % 2 === 0 ? await Promise.all([complete(), cancel()]) : await Promise.all([cancel(), complete()]).then(([h, d]) => [d, h] as const);
      outcomes.add(done.recorded);
      const state = (await store.records.get(scope, id))!;
      expect(halted.applied).toBe(true);
      expect(state.run.status).toBe('cancelled');
      expect(state.run.usage).toEqual(answer.usage);
      expect(state.steps[0]).toMatchObject({ status: done.recorded ? 'succeeded' : 'cancelled', output: 'the answer', usage: answer.usage });
      const types = await eventTypes(id, 'a');
      expect(types.filter((t) => t === 'step.completed' || t === 'step.cancelled')).toHaveLength(1);
    }
    expect([...outcomes].sort()).toEqual([false, true]); // both orders were met
  });

  it('two starts of the same step at once: one attempt starts, the other finds it running', async () => {
    const id = await newRun();
    const begins = await Promise.all(
      [1, 2, 3].map(() => store.steps.begin(scope, id, 'a', { fast: true, deps: [], extra: [], needsOutput: () => false, maxAttempts: 3 })),
    );
    expect(begins.filter((b) => b.mode === 'started')).toHaveLength(1);
    expect(begins.filter((b) => b.mode === 'read').map((b) => (b.mode === 'read' || b.mode === 'started') && b.stepStatus)).toEqual(['running', 'running']);
    expect(await eventTypes(id, 'a')).toEqual(['step.started']);
  });

  it('two finishes at once: the first wins, the second changes nothing', async () => {
    const id = await newRun();
    const results = await Promise.all([
      store.endings.finish(scope, id, 'cancelled', { reason: 'one' }),
      store.endings.finish(scope, id, 'failed', { error: 'two', reason: 'two' }),
    ]);
    expect(results.filter((r) => r.applied)).toHaveLength(1);
    expect((await eventTypes(id)).filter((t) => t === 'run.finished')).toHaveLength(1);
  });
});

describe('step-checkpoint and step-progress', () => {
  it('save only while the step runs the given attempt', async () => {
    const id = await newRun();
    expect(await store.steps.checkpoint(scope, id, 'a', 1, { turn: 1 })).toBe(false); // pending
    await start(id, 'a');
    expect(await store.steps.checkpoint(scope, id, 'a', 2, { turn: 1 })).toBe(false); // another attempt
    expect(await store.steps.checkpoint(scope, id, 'a', 1, { turn: 1 })).toBe(true);
    expect(await store.steps.progress(scope, id, 'a', 1, { chars: 3 })).toBe(true);
    expect(
      (await store.steps.begin(scope, id, 'a', { fast: false, deps: [], extra: [], needsOutput: () => false, maxAttempts: 3 })) as { checkpoint: unknown },
    ).toMatchObject({ checkpoint: { turn: 1 } });
    await store.steps.complete(scope, id, 'a', answer);
    expect(await store.steps.checkpoint(scope, id, 'a', 1, { turn: 2 })).toBe(false);
    expect(await store.steps.progress(scope, id, 'a', 1, { chars: 4 })).toBe(false);
  });

  it('keep what a delivery paid for on its step, and on its finished run, when the write does not apply', async () => {
    // A run of two steps (not compacted while `b` runs): `a` finishes, `b` is taken over.
    const id = await newRun([newStep('a'), newStep('b')], ['a']);
    const usageOf = async (key: string) => JSON.parse((await redis.hget(key, 'usage')) ?? 'null');
    await start(id, 'b');
    await start(id, 'a');
    await store.steps.complete(scope, id, 'a', answer);
    // Another worker's attempt 2 runs `b` now: attempt 1's checkpoint and retry do not apply, their usage stays.
    await store.steps.transition(scope, id, 'b', { from: ['running'], to: 'running', attemptsDelta: 1 });
    expect(await store.steps.checkpoint(scope, id, 'b', 1, { turn: 1 }, { inputTokens: 5, outputTokens: 2, costUsd: 0.001 })).toBe(false);
    const retry = await store.steps.transition(scope, id, 'b', { from: ['running'], to: 'retrying', attempt: 1, usage: { inputTokens: 1, outputTokens: 1 } });
    expect(retry.applied).toBe(false);
    expect(await usageOf(keys.step(scope, id, 'b'))).toEqual({ inputTokens: 6, outputTokens: 3, costUsd: 0.001 });
    // Once the run has finished (cancelled: `b` had no answer), a late one is added to the run's total too.
    await store.endings.finish(scope, id, 'cancelled', { reason: 'stop' });
    const before = await usageOf(keys.run(scope, id));
    expect(await store.steps.checkpoint(scope, id, 'b', 2, undefined, { inputTokens: 10, outputTokens: 4 })).toBe(false);
    expect(await usageOf(keys.run(scope, id))).toEqual({
      inputTokens: before.inputTokens + 10,
      outputTokens: before.outputTokens + 4,
      costUsd: before.costUsd,
    });
    expect(await usageOf(keys.step(scope, id, 'b'))).toMatchObject({ inputTokens: 16, outputTokens: 7 });
    // The outbox (the system of record) gets both again, with the usage added.
    const latest = async (kind: string, entryId: string) => {
      const entries = (await redis.xrange(keys.outbox(cellOf(prefix)), '-', '+')).filter(([, f]) => f[1] === kind && f[3] === entryId);
      const fields = entries.at(-1)![1];
      return JSON.parse(fields[fields.indexOf('doc') + 1]!) as { usage: unknown };
    };
    expect((await latest('step', `${id}.b`)).usage).toMatchObject({ inputTokens: 16, outputTokens: 7 });
    expect((await latest('run', id)).usage).toMatchObject({ inputTokens: before.inputTokens + 10 });
  });

  it('set the record fields given with them; on a step that ended while that attempt ran it too (cancelled), never from another attempt', async () => {
    const id = await newRun([newStep('a'), newStep('b')], ['a']);
    await start(id, 'a');
    const debug = (attempt: number, message: string) => ({ attempt, request: { model: 'm', messages: [] }, error: { status: 500, message } });
    expect(await store.steps.checkpoint(scope, id, 'a', 1, { turn: 1 }, null, undefined, { debug: debug(1, 'first'), input: { task: 't' } })).toBe(true);
    expect((await store.steps.get(scope, id, ['a']))[0]).toMatchObject({ status: 'running', debug: debug(1, 'first'), input: { task: 't' } });
    // Cancelled while attempt 1 runs (a running step keeps its run from being compacted).
    await store.endings.finish(scope, id, 'cancelled', { reason: 'stop' });
    expect(await store.steps.checkpoint(scope, id, 'a', 2, undefined, null, undefined, { debug: debug(2, 'not mine') })).toBe(false);
    expect((await store.steps.get(scope, id, ['a']))[0]!.debug).toMatchObject({ error: { message: 'first' } });
    expect(await store.steps.checkpoint(scope, id, 'a', 1, undefined, { inputTokens: 2, outputTokens: 1 }, undefined, { debug: debug(1, 'aborted') })).toBe(
      false,
    );
    expect((await store.steps.get(scope, id, ['a']))[0]).toMatchObject({
      status: 'cancelled',
      usage: { inputTokens: 2, outputTokens: 1 },
      debug: { error: { message: 'aborted' } },
    });
    // The archive gets it, once.
    const sent = (await redis.xrange(keys.outbox(cellOf(prefix)), '-', '+')).filter(
      ([, f]) => f[1] === 'step' && f[3] === `${id}.a` && f[5]!.includes('"aborted"'),
    );
    expect(sent).toHaveLength(1);
  });
});

describe('steps-add', () => {
  it('adds steps under a running parent once: records, list, refs, events, agents', async () => {
    const id = await newRun([newStep('plan')]);
    const kids = [
      { ...newStep('plan.x'), parent: 'plan', agent: 'zeta' },
      { ...newStep('plan.y', ['plan.x']), parent: 'plan', agent: 'beta' },
    ];
    const add = () => store.steps.add(scope, id, { parent: 'plan', attempt: 1, steps: kids, refIds: [`${id}.plan.x~ref~plan.y`], agents: ['zeta', 'beta'] });
    expect(await add()).toEqual({ applied: false, parentStatus: 'pending' });
    await start(id, 'plan');
    expect(await store.steps.add(scope, id, { parent: 'plan', attempt: 2, steps: kids, refIds: [], agents: [] })).toEqual({
      applied: false,
      parentStatus: 'running',
    });
    expect(await add()).toEqual({ applied: true, added: 2 });
    expect(await add()).toEqual({ applied: true, added: 0 }); // delivered again: nothing twice
    expect(await redis.lrange(keys.runSteps(scope, id), 0, -1)).toEqual(['plan', 'plan.x', 'plan.y']);
    expect((await redis.smembers(keys.runRefs(scope, id))).sort()).toEqual([`${id}.a~ref~b`, `${id}.plan.x~ref~plan.y`].sort());
    const state = (await store.records.get(scope, id))!;
    expect(state.run.agents).toEqual(['a', 'beta', 'zeta']);
    expect(state.steps.map((s) => [s.stepId, s.parent, s.agent, s.status, s.dependsOn])).toEqual([
      ['plan', null, 'a', 'running', []],
      ['plan.x', 'plan', 'zeta', 'pending', []],
      ['plan.y', 'plan', 'beta', 'pending', ['plan.x']],
    ]);
    const added = (await store.events.read(scope, id)).filter((e) => e.type === 'step.added');
    expect(added.map((e) => [e.stepId, e.data])).toEqual([
      ['plan.x', { parent: 'plan', kind: 'agent', agent: 'zeta', dependsOn: [] }],
      ['plan.y', { parent: 'plan', kind: 'agent', agent: 'beta', dependsOn: ['plan.x'] }],
    ]);
  });
});

describe('run-finish', () => {
  it('settles from the steps (a live one was lost), builds the output, and compacts the run into its hash, with retention', async () => {
    const id = await newRun([newStep('a'), newStep('b', ['a'], true), newStep('c', ['a'])], ['a', 'c']);
    await start(id, 'a');
    await store.steps.complete(scope, id, 'a', answer);
    await setStatus(id, 'c', 'skipped');
    // b is still `pending`: its job ended without reporting.
    const res = await store.endings.finish(scope, id, 'auto');
    expect(res).toMatchObject({ applied: true, status: 'partial_success' });
    const state = (await store.records.get(scope, id))!;
    expect(state.run).toMatchObject({ status: 'partial_success', output: { a: 'the answer', c: null }, skippedSteps: ['c'], usage: answer.usage });
    expect(state.run.failedSteps).toEqual([{ stepId: 'b', kind: 'agent', agent: 'a', error: LOST_STEP_ERROR }]);
    expect(state.steps.map((s) => [s.stepId, s.status, s.output, s.runId])).toEqual([
      ['a', 'succeeded', 'the answer', id],
      ['b', 'failed', null, id],
      ['c', 'skipped', null, id],
    ]);
    // One key is left, with the retention TTL; the definition's TTL is renewed.
    expect(await redis.ttl(keys.run(scope, id))).toBeGreaterThan(0);
    expect((await redis.hkeys(keys.run(scope, id))).sort()).toEqual(['events', 'run', 'status', 'steps']);
    expect(
      await redis.exists(
        keys.runSteps(scope, id),
        keys.runRefs(scope, id),
        keys.events(scope, id),
        keys.step(scope, id, 'a'),
        keys.step(scope, id, 'b'),
        keys.step(scope, id, 'c'),
      ),
    ).toBe(0);
    expect(await store.records.definition(scope, id)).toEqual({ name: 'test', steps: ['a', 'b', 'c'] });
    // Its event log reads the same, from any point.
    const events = await store.events.read(scope, id);
    expect(events.map((e) => [e.id, e.type])).toEqual([
      ['1', 'run.queued'],
      ['2', 'run.started'],
      ['3', 'step.completed'],
      ['4', 'step.failed'],
      ['5', 'run.finished'],
    ]);
    expect(await store.events.read(scope, id, 3, 1)).toEqual([events[3]]);
    expect(events.every((e) => e.runId === id)).toBe(true);
  });

  it('keeps every key of a run that had a step running (its answer may still come), with retention', async () => {
    const id = await newRun([newStep('a'), newStep('c', ['a'])]);
    await start(id, 'a');
    await store.endings.finish(scope, id, 'cancelled', { reason: 'stop' });
    for (const key of [
      keys.run(scope, id),
      keys.runSteps(scope, id),
      keys.runRefs(scope, id),
      keys.events(scope, id),
      keys.step(scope, id, 'a'),
      keys.step(scope, id, 'c'),
    ]) {
      expect(await redis.ttl(key), key).toBeGreaterThan(0);
    }
  });

  it('cancels the steps that had not finished and returns them with what they were doing', async () => {
    const id = await newRun([newStep('a'), newStep('b', ['a'])]);
    await start(id, 'a');
    await store.steps.transition(scope, id, 'a', { from: ['running'], to: 'retrying' });
    const res = await store.endings.finish(scope, id, 'cancelled', { reason: 'run cancelled' });
    expect(res).toEqual({
      applied: true,
      status: 'cancelled',
      cancelledSteps: [
        { stepId: 'a', was: 'retrying', agent: 'a' },
        { stepId: 'b', was: 'pending', agent: 'a' },
      ],
      refIds: [`${id}.a~ref~b`],
      // What the finishing write read for what follows: nothing held, no webhook in the workspace.
      facts: { holds: false, notice: false },
    });
    expect((await store.records.get(scope, id))!.steps.map((s) => [s.status, s.reason])).toEqual([
      ['cancelled', 'run cancelled'],
      ['cancelled', 'run cancelled'],
    ]);
  });
});
