/**
 * Engine guarantees that are not about one pattern: reading any ancestor's output, never
 * paying twice for a call whose result was already stored when its job is delivered again, a
 * step's result being stored (awaited, retried) before anything its completion starts reads
 * it, and a submission whose state or flow cannot be written leaving nothing behind.
 */
import { createHash } from 'node:crypto';
import { Command, ReplyError } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startWorkerPools, type WorkerPools } from '../../src/engine/pools.js';
import { luaSource } from '../../src/store/scripts/script.js';
import { startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { assertAllClosed, expectNoLiveJobs, startHarness, type Harness } from '../helpers/harness.js';
import { unique } from '../helpers/redis.js';
import { poll } from '../helpers/poll.js';
import { READS_IN_SCRIPT } from '../../src/store/scripts/step-begin.js';
import { CREATE_IN_SCRIPT } from '../../src/store/scripts/create-run.js';
import { SETTLE_IN_SCRIPT } from '../../src/store/endings.js';
import { keys } from '../../src/store/keys.js';

let fake: FakeLlmServer;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeLlmServer();
  h = await startHarness({
    name: 'engine',
    fake,
    pools: false, // each test starts the pools when it wants the work to happen
    agents: { e: { provider: 'echo' }, gpt: { provider: 'openai', model: 'gpt-test', attempts: 1 } },
    workflows: [
      {
        name: 'fan',
        steps: [
          { parallel: Array.from({ length: 8 }, (_, i) => ({ id: `p${i}`, agent: 'e', input: { task: `part ${i}` } })) },
          { id: 'join', agent: 'e', dependsOn: Array.from({ length: 8 }, (_, i) => `p${i}`), input: { task: 'join {{steps.p7.output}}' } },
        ],
      },
      {
        // More steps than step-begin reads in its script: the join reads them in batches before it.
        name: 'wide',
        steps: [
          { parallel: Array.from({ length: 300 }, (_, i) => ({ id: `w${i}`, agent: 'e', input: { task: `piece ${i}` } })) },
          { id: 'join', agent: 'e', dependsOn: Array.from({ length: 300 }, (_, i) => `w${i}`), input: { task: 'join {{steps.w299.output}}' } },
        ],
      },
      {
        name: 'wide-broken',
        steps: [
          {
            parallel: [
              ...Array.from({ length: 299 }, (_, i) => ({ id: `w${i}`, agent: 'e', input: { task: `piece ${i}` } })),
              { id: 'bad', agent: 'gpt', input: { task: 'no [[status:400]]' } },
            ],
          },
          { id: 'join', agent: 'e', dependsOn: [...Array.from({ length: 299 }, (_, i) => `w${i}`), 'bad'], input: { task: 'join' } },
        ],
      },
      {
        name: 'wide-skip',
        input: { go: { type: 'boolean' } },
        steps: [
          {
            parallel: [
              ...Array.from({ length: 299 }, (_, i) => ({ id: `w${i}`, agent: 'e', input: { task: `piece ${i}` } })),
              { id: 'maybe', agent: 'e', when: 'input.go == true', input: { task: 'not asked' } },
            ],
          },
          {
            id: 'join',
            agent: 'e',
            dependsOn: [...Array.from({ length: 299 }, (_, i) => `w${i}`), 'maybe'],
            allowSkippedDeps: true,
            input: { task: 'join {{steps.w298.output}}' },
          },
        ],
      },
      {
        // More steps than create-run writes and run-finish settles in one script: both in parts.
        name: 'huge',
        input: { go: { type: 'boolean' } },
        steps: [
          {
            parallel: [
              ...Array.from({ length: 900 }, (_, i) => ({ id: `h${i}`, agent: 'e', input: { task: `bit ${i}` } })),
              { id: 'bad', agent: 'gpt', optional: true, input: { task: 'no [[status:400]]' } },
              { id: 'never', agent: 'e', when: 'input.go == true', input: { task: 'not asked' } },
            ],
          },
          { id: 'join', agent: 'e', dependsOn: ['h0', 'h899', 'bad', 'never'], allowSkippedDeps: true, input: { task: 'join {{steps.h899.output}}' } },
        ],
      },
      {
        name: 'paid-pair',
        input: { task: { type: 'string' } },
        steps: [
          {
            sequential: [
              { id: 'ask', agent: 'gpt', input: { task: '{{input.task}}' } },
              { id: 'after', agent: 'e', input: { task: 'after {{steps.ask.output}}' } },
            ],
          },
        ],
      },
      {
        name: 'chain',
        steps: [
          {
            sequential: [
              { id: 'a', agent: 'e', input: { task: 'alpha' } },
              { id: 'b', agent: 'e', input: { task: 'beta' } },
              { id: 'c', agent: 'e', input: { task: 'from a: {{steps.a.output}}' } },
            ],
          },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await h?.close();
  await fake?.close();
  assertAllClosed();
});

/** Run `fn` with worker pools serving the system, closed afterwards whatever happens. */
async function withPools(fn: (pools: WorkerPools) => Promise<void>): Promise<void> {
  const pools = await startWorkerPools(h.system);
  try {
    await fn(pools);
  } finally {
    await pools.close();
  }
}

it('renders templates that read an ancestor which is not a direct dependency', async () => {
  await withPools(async () => {
    const res = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {} });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const run = await h.waitForRun(res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('[e] from a: [e] alpha');
  });
});

it('returns the stored result of a step delivered again after a crash, without calling the provider', async () => {
  const res = await h.request('POST', '/v1/runs', { agent: 'gpt', input: { task: 'expensive call' } });
  const runId = res.body.id as string;
  // A worker called the model, stored the answer, then died before BullMQ marked the job done.
  const { store } = h.system.engine;
  const scope = h.system.scope();
  await store.steps.transition(scope, runId, 'gpt', { from: ['pending'], to: 'running', attemptsDelta: 1, fields: { startedAt: new Date().toISOString() } });
  expect(
    await store.steps.complete(scope, runId, 'gpt', {
      output: 'stored answer',
      input: { task: 'expensive call' },
      usage: { inputTokens: 5, outputTokens: 2 },
      model: 'gpt-test',
    }),
  ).toEqual({ recorded: true, status: 'succeeded' });

  await withPools(async () => {
    const run = await h.waitForRun(runId);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('stored answer');
    expect(run.usage).toEqual({ inputTokens: 5, outputTokens: 2 });
    expect(run.steps[0]!.attempts).toBe(1);
    expect(fake.requests.filter((r) => r.prompt === 'expensive call')).toHaveLength(0);
  });
});

it("has a step's result in the run state before its dependents and the run's root read it (no re-reads)", async () => {
  // The result is written, awaited, before the job completes: a dependent reads each of its
  // dependencies once, and the root settles the run in one go.
  const begin = vi.spyOn(h.system.engine.store.steps, 'begin');
  const finish = vi.spyOn(h.system.engine.store.endings, 'finish');
  try {
    await withPools(async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await h.request('POST', '/v1/runs', { workflow: 'fan', input: {} })).body.id);
      ids.push((await h.request('POST', '/v1/runs', { workflow: 'chain', input: {} })).body.id);
      for (const id of ids) expect((await h.waitForRun(id)).status).toBe('succeeded');
      for (const id of ids) {
        const calls = begin.mock.calls.filter(([, runId]) => runId === id);
        expect(calls.length).toBe((await h.system.api.queries.get(h.system.scope(), id)).steps.length); // one read per step
        expect(finish.mock.calls.filter(([, runId]) => runId === id)).toHaveLength(1);
      }
    });
  } finally {
    begin.mockRestore();
    finish.mockRestore();
  }
});

it('a join of more steps than step-begin reads in its script reads them before it: it starts on the fast path, or not at all when one failed', async () => {
  expect(300).toBeGreaterThan(READS_IN_SCRIPT);
  await withPools(async () => {
    const ok = await h.waitForRun((await h.request('POST', '/v1/runs', { workflow: 'wide', input: {} })).body.id, 30_000);
    expect(ok.status).toBe('succeeded');
    const join = ok.steps.find((s) => s.stepId === 'join')!;
    expect(join).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(join.output).toContain('piece 299');
    // A skipped dependency: not the fast path, the engine decides from what was read before the script.
    const begin = vi.spyOn(h.system.engine.store.steps, 'begin');
    const skip = await h.waitForRun((await h.request('POST', '/v1/runs', { workflow: 'wide-skip', input: { go: false } })).body.id, 30_000);
    const joinBegins = begin.mock.calls
      .map(([, runId, stepId], i) => [runId, stepId, i] as const)
      .filter(([runId, stepId]) => runId === skip.id && stepId === 'join');
    const replies = await Promise.all(joinBegins.map(([, , i]) => begin.mock.results[i]!.value));
    begin.mockRestore();
    expect(replies.map((b) => [b.mode, b.reads.length, b.reads.find((x: { stepId: string }) => x.stepId === 'maybe')?.status])).toEqual([
      ['read', 300, 'skipped'],
    ]);
    expect(skip.status).toBe('succeeded');
    expect(skip.steps.find((s) => s.stepId === 'join')).toMatchObject({ status: 'succeeded', attempts: 1, output: expect.stringContaining('piece 298') });
    const broken = await h.waitForRun((await h.request('POST', '/v1/runs', { workflow: 'wide-broken', input: {} })).body.id, 30_000);
    expect(broken.status).toBe('failed');
    expect(broken.failedSteps.map((f) => f.stepId)).toEqual(['bad']);
    expect(broken.steps.find((s) => s.stepId === 'join')).toMatchObject({ status: 'cancelled', attempts: 0 });
    await expectNoLiveJobs(h.system, broken.id);
  });
}, 60_000);

it('a run of more steps than one script should write or settle is written and settled in parts: every step, failure, skip and token counted', async () => {
  expect(903).toBeGreaterThan(Math.max(CREATE_IN_SCRIPT, SETTLE_IN_SCRIPT));
  const settle = vi.spyOn(h.system.engine.store.endings as unknown as { settleLargeRun: (scope: unknown, id: string) => Promise<unknown> }, 'settleLargeRun');
  await withPools(async () => {
    const r = await h.waitForRun((await h.request('POST', '/v1/runs', { workflow: 'huge', input: { go: false } })).body.id, 60_000);
    expect(r.steps).toHaveLength(903);
    // In the order of the definition, across the parts.
    expect(r.steps.slice(0, 3).map((s) => s.stepId)).toEqual(['h0', 'h1', 'h2']);
    expect(r.steps.slice(-4).map((s) => s.stepId)).toEqual(['h899', 'bad', 'never', 'join']);
    expect(r.status).toBe('partial_success');
    expect(r.failedSteps).toEqual([expect.objectContaining({ stepId: 'bad', agent: 'gpt', kind: 'agent', error: expect.stringContaining('400') })]);
    expect(r.skippedSteps).toEqual(['never']);
    expect(r.steps.find((s) => s.stepId === 'join')).toMatchObject({ status: 'succeeded', output: expect.stringContaining('bit 899') });
    const sum = r.steps.reduce((n, s) => n + (s.usage?.outputTokens ?? 0), 0);
    expect(sum).toBeGreaterThan(0);
    expect(r.usage.outputTokens).toBe(sum);
    // Every key of the finished run has its retention TTL.
    const ttl = await h.system.engine.store.redis.ttl(keys.step(h.system.scope(), r.id, 'h600'));
    expect(ttl).toBeGreaterThan(0);
    await expectNoLiveJobs(h.system, r.id);
    // Settled outside the script: every step had ended.
    const settled = await Promise.all(settle.mock.calls.map(([, id], i) => (id === r.id ? settle.mock.results[i]!.value : undefined)));
    expect(settled.filter(Boolean)).toEqual([expect.objectContaining({ nFailed: 1, skipped: '["never"]' })]);
  });
  settle.mockRestore();
}, 90_000);

it('retries a result write that Redis refuses, and completes the job only once it is stored (one provider call)', async () => {
  const store = h.system.engine.store;
  const original = store.steps.complete.bind(store.steps);
  let refusals = 0;
  const complete = vi.spyOn(store.steps, 'complete').mockImplementation(async (scope, runId, stepId, result, opts) => {
    if (stepId === 'gpt' && refusals < 2) {
      refusals++;
      throw new Error('OOM command not allowed when used memory > maxmemory');
    }
    return original(scope, runId, stepId, result, opts);
  });
  try {
    await withPools(async () => {
      const task = unique('paid once');
      const res = await h.request('POST', '/v1/runs', { agent: 'gpt', input: { task } });
      const run = await h.waitForRun(res.body.id);
      expect(run.status).toBe('succeeded');
      expect(run.steps[0]).toMatchObject({ status: 'succeeded', attempts: 1, output: expect.stringContaining(task) });
      expect(refusals).toBe(2);
      expect(fake.requests.filter((r) => r.prompt === task)).toHaveLength(1);
    });
  } finally {
    complete.mockRestore();
  }
});

it('counts a paid answer once when its result write was applied but the reply was lost (the write is retried)', async () => {
  const store = h.system.engine.store;
  const original = store.steps.complete.bind(store.steps);
  const task = unique('reply lost');
  // Armed, with the step whose write is lost, before a faulty run is submitted (its write may come before the API
  // has answered); the runs go one at a time, and each faulty one loses the first write of its own step.
  let armed: 'ask' | 'gpt' | undefined;
  const lostFor = new Set<string>();
  // Redis ran the write, then the reply never came back (as ioredis reports a command timeout).
  const complete = vi.spyOn(store.steps, 'complete').mockImplementation(async (scope, runId, stepId, result, opts) => {
    // Decided, and noted, when the write is asked for: a write that finishes its run is seen by the API (the run
    // finished) as soon as Redis ran it, before its call returns here (the finish's follow-ups are awaited first).
    const lose = stepId === armed;
    if (lose) {
      armed = undefined;
      lostFor.add(runId);
    }
    const reply = await original(scope, runId, stepId, result, opts);
    if (lose) throw new Error('Command timed out');
    return reply;
  });
  const submit = async (body: Record<string, unknown>, lose?: 'ask' | 'gpt') => {
    armed = lose;
    return ((await h.request('POST', '/v1/runs', body)).body as { id: string }).id;
  };
  try {
    await withPools(async (pools) => {
      // What the (last) job of a faulty run returned (its envelope: the status this worker reported), as the worker says it.
      const returned = new Map<string, unknown>();
      const waiting = new Map<string, (value: unknown) => void>();
      for (const w of pools.workers)
        w.on('completed', (job, value) => {
          const runId = job.data?.runId as string | undefined;
          if (!runId || !lostFor.has(runId)) return;
          returned.set(runId, value);
          waiting.get(runId)?.(value);
        });
      const jobReturned = (runId: string) => (returned.has(runId) ? Promise.resolve(returned.get(runId)) : new Promise((r) => waiting.set(runId, r)));
      // The same call twice: once as usual (what one answer costs), once with its reply lost.
      const plain = await h.waitForRun(await submit({ workflow: 'paid-pair', input: { task } }));
      const faultyId = await submit({ workflow: 'paid-pair', input: { task } }, 'ask');
      const run = await h.waitForRun(faultyId);
      expect([...lostFor]).toContain(faultyId);
      expect(run.status).toBe('succeeded');
      const ask = (r: typeof run) => r.steps.find((s) => s.stepId === 'ask')!;
      expect(ask(plain).usage!.inputTokens).toBeGreaterThan(0);
      expect(ask(run)).toMatchObject({ status: 'succeeded', attempts: 1, usage: ask(plain).usage });
      expect(run.usage).toEqual(plain.usage);
      // The event says it once too.
      const completed = (await store.events.read(h.system.scope(), faultyId)).filter((e) => e.type === 'step.completed' && e.stepId === 'ask');
      expect(completed).toHaveLength(1);
      // A single-step run: the lost write had also finished and compacted its run.
      const plainOne = await h.waitForRun(await submit({ agent: 'gpt', input: { task } }));
      const one = await h.waitForRun(await submit({ agent: 'gpt', input: { task } }, 'gpt'));
      expect([...lostFor]).toContain(one.id);
      expect(one).toMatchObject({ status: 'succeeded', usage: plainOne.usage, output: plainOne.output });
      expect(one.steps[0]).toMatchObject({ status: 'succeeded', attempts: 1, usage: plainOne.usage });
      // Its job ended as the step did: the retry found the run finished by the first try.
      expect(await jobReturned(one.id)).toEqual({ stepId: 'gpt', status: 'succeeded' });
      expect(fake.requests.filter((r) => r.prompt === task)).toHaveLength(4);
    });
  } finally {
    complete.mockRestore();
  }
});

// A single-step run's result write finishes and compacts its run, so the write sent again finds no step. Lost as
// ioredis loses it: the command timed out (the write is tried again), or its connection dropped and the command is
// sent again on the new one (the engine's connections re-send what got no reply: the second reply is the one that comes).
it.each(['timed out', 'sent again'] as const)(
  "a single-step run whose finishing write was applied and its reply lost (%s): its job ends succeeded, and the run's finish is told",
  async (how) => {
    const store = h.system.engine.store;
    const { redis } = store;
    const task = unique(`finish ${how}`);
    const told: string[] = [];
    const unlisten = store.endings.onFinished((_scope, runId, status) => {
      told.push(`${runId} ${status}`);
    });
    try {
      await withPools(async (pools) => {
        const returned = new Map<string, unknown>();
        for (const w of pools.workers) w.on('completed', (job, value) => returned.set(job.data?.runId as string, value));
        const submit = async () => ((await h.request('POST', '/v1/runs', { agent: 'gpt', input: { task } })).body as { id: string }).id;
        // A plain one first: what one answer costs.
        const plain = await h.waitForRun(await submit());
        const sha = createHash('sha1').update(luaSource('step-complete')).digest('hex');
        const send = redis.sendCommand.bind(redis);
        let armed = true;
        // The script's call as sent: Redis runs it, and its reply is lost.
        const command = vi.spyOn(redis, 'sendCommand').mockImplementation((sent, stream) => {
          if (!armed || sent.name !== 'evalsha' || sent.args[0] !== sha) return send(sent, stream);
          armed = false;
          const ran = send(sent, stream) as Promise<unknown>;
          if (how === 'timed out') return ran.then(() => Promise.reject(new Error('Command timed out')));
          return ran.then(() => send(new Command(sent.name, sent.args, { replyEncoding: 'utf8' })));
        });
        try {
          const id = await submit();
          const run = await h.waitForRun(id);
          expect(armed).toBe(false);
          expect(run).toMatchObject({ status: 'succeeded', usage: plain.usage, output: plain.output });
          expect(run.steps[0]).toMatchObject({ status: 'succeeded', attempts: 1, usage: plain.usage });
          await poll(
            'its job to end',
            () => returned.get(id),
            (v) => v !== undefined,
          );
          // Its job ended as the step did, and this process was told of the finish (what the reply would have told it).
          expect(returned.get(id)).toEqual({ stepId: 'gpt', status: 'succeeded' });
          expect(told.filter((t) => t.startsWith(`${id} `))).toEqual([`${id} succeeded`]);
          expect(fake.requests.filter((r) => r.prompt === task)).toHaveLength(2);
        } finally {
          command.mockRestore();
        }
      });
    } finally {
      unlisten();
    }
  },
);

it('never completes the job of a step whose result could not be stored: nothing downstream starts without it', async () => {
  const store = h.system.engine.store;
  const complete = vi.spyOn(store.steps, 'complete').mockRejectedValue(new Error("READONLY You can't write against a read only replica"));
  // A pool whose result writes give up fast, so the attempts run out within the test.
  const pools = await startWorkerPools(h.system, { recordRetry: { tries: 2, firstDelayMs: 10 } });
  try {
    const res = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {} });
    const run = await h.waitForRun(res.body.id, 20_000);
    // `a` never stored its result: it ends failed, and b and c never started.
    expect(run.status).toBe('failed');
    expect(run.steps.map((s) => [s.stepId, s.status])).toEqual([
      ['a', 'failed'],
      ['b', 'cancelled'],
      ['c', 'cancelled'],
    ]);
    expect(run.steps[0]!.error).toContain('could not record the result');
    expect(run.steps.slice(1).every((s) => s.startedAt === null)).toBe(true);
    await expectNoLiveJobs(h.system, res.body.id);
  } finally {
    complete.mockRestore();
    await pools.close();
  }
}, 30_000);

it('ends a run whose flow could not be enqueued, and frees its idempotency key', async () => {
  // A failure without a reply from Redis, worded as ioredis words a command that timed out.
  const add = vi.spyOn(h.system.api.flowProducer, 'add').mockRejectedValueOnce(new Error('Command timed out'));
  try {
    const res = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {}, idempotencyKey: 'enqueue-fails' });
    expect(res.status).toBe(503);
    expect(res.body.error.message).toContain('Redis cannot be reached (Command timed out)');
    const [run] = (await h.system.engine.store.records.list(h.system.scope(), { limit: 1 })).runs;
    expect(run).toMatchObject({ workflow: 'chain', status: 'failed', error: 'could not enqueue the run: Command timed out' });
    // The key is free again: the same request now runs.
    const again = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {}, idempotencyKey: 'enqueue-fails' });
    expect(again.status).toBe(202);
    expect(again.body.id).not.toBe(run!.id);
  } finally {
    add.mockRestore();
  }
});

it('adds no flow for a run whose state could not be written, and frees its idempotency key', async () => {
  const create = vi.spyOn(h.system.api.store.records, 'create').mockRejectedValueOnce(new Error('Connection is closed.'));
  const add = vi.spyOn(h.system.api.flowProducer, 'add');
  try {
    const res = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {}, idempotencyKey: 'state-fails' });
    expect(res.status).toBe(503);
    expect(add).not.toHaveBeenCalled();
    const again = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {}, idempotencyKey: 'state-fails' });
    expect(again.status).toBe(202);
    await withPools(async () => expect((await h.waitForRun(again.body.id)).status).toBe('succeeded'));
  } finally {
    create.mockRestore();
    add.mockRestore();
  }
});

it('adds no job for a single-step run whose state could not be written (its job is added once it is)', async () => {
  const create = vi.spyOn(h.system.api.store.records, 'create').mockRejectedValueOnce(new Error('Connection is closed.'));
  try {
    const res = await h.request('POST', '/v1/runs', { agent: 'gpt', input: { task: 'never called' }, idempotencyKey: 'one-state-fails' });
    expect(res.status).toBe(503);
    expect(await h.system.agentQueue('gpt').getJobCounts('waiting', 'delayed', 'prioritized')).toEqual({ waiting: 0, delayed: 0, prioritized: 0 });
    const again = await h.request('POST', '/v1/runs', { agent: 'gpt', input: { task: 'never called' }, idempotencyKey: 'one-state-fails' });
    expect(again.status).toBe(202);
    await withPools(async () => expect((await h.waitForRun(again.body.id)).status).toBe('succeeded'));
    expect(fake.requests.filter((r) => r.prompt === 'never called')).toHaveLength(1);
  } finally {
    create.mockRestore();
  }
});

const shapes = [
  { name: 'a workflow (a root job over its steps)', body: { workflow: 'chain', input: {} } },
  { name: 'a single-step run (its step job alone)', body: { agent: 'e', input: { task: 'alone' } } },
];

/**
 * Make the next submission write its run but not its jobs: its flow is lost on the way (no
 * reply: 503), or its one job, sent right after the run's write, is refused by Redis (500).
 */
function loseTheJobs(body: Record<string, unknown>): { mockRestore(): void; status: number } {
  if (!('agent' in body))
    return Object.assign(vi.spyOn(h.system.api.flowProducer, 'add').mockRejectedValueOnce(new Error('Command timed out')), { status: 503 });
  const refused = vi
    .spyOn(h.system.api.queues.get('agent.e')!, 'add')
    .mockRejectedValueOnce(new ReplyError('OOM command not allowed when used memory > maxmemory'));
  return Object.assign(refused, { status: 500 });
}

it.each(shapes)(
  'sweeps $name whose jobs were never added and that could not be ended then: it ends failed and its key is free',
  async ({ body }) => {
    // Redis goes away between writing the run and adding its flow, and stays away for the
    // clean-up too: the run is left queued, with no jobs, holding its idempotency key.
    const add = loseTheJobs(body);
    const finish = vi.spyOn(h.system.api.store.endings, 'finish').mockRejectedValueOnce(new Error('Connection is closed.'));
    let runId: string;
    try {
      const res = await h.request('POST', '/v1/runs', { ...body, idempotencyKey: `swept-${JSON.stringify(body)}` });
      expect(res.status).toBe(add.status);
      expect(finish).toHaveBeenCalledTimes(1);
      runId = (await h.system.engine.store.records.list(h.system.scope(), { limit: 1 })).runs[0]!.id;
      expect((await h.system.api.queries.get(h.system.scope(), runId)).status).toBe('queued');
      const held = await h.request('POST', '/v1/runs', { ...body, idempotencyKey: `swept-${JSON.stringify(body)}` });
      expect(held.body.id).toBe(runId); // the key still names the stranded run
    } finally {
      add.mockRestore();
      finish.mockRestore();
    }
    const pools = await startWorkerPools(h.system, { sweep: { everyMs: 100, graceMs: 300 } });
    try {
      const run = await h.waitForRun(runId, 10_000);
      expect(run).toMatchObject({ status: 'failed', error: expect.stringContaining('its jobs were never added') });
      expect(run.steps.every((s) => s.status === 'cancelled')).toBe(true);
      // The sweeper frees the key right after ending the run: until then the key names the old run.
      let again: Awaited<ReturnType<Harness['request']>> | undefined;
      await expect
        .poll(async () => (again = await h.request('POST', '/v1/runs', { ...body, idempotencyKey: `swept-${JSON.stringify(body)}` })).status)
        .toBe(202);
      expect(again!.body.id).not.toBe(runId);
      expect((await h.waitForRun(again!.body.id)).status).toBe('succeeded');
      expect(await h.system.engine.store.records.queuedBefore(h.system.cell, Date.now(), 100)).toEqual([]);
    } finally {
      await pools.close();
    }
  },
  30_000,
);

it.each(shapes)('leaves $name that has its jobs alone, however long it waits', async ({ body }) => {
  const res = await h.request('POST', '/v1/runs', body);
  expect(res.status).toBe(202);
  const id = res.body.id as string;
  // A sweep pass ends by marking the runs it kept as looked at.
  const kept = vi.spyOn(h.system.engine.store.records, 'touchQueued');
  // Only the sweeper's internal side runs: no agent workers, so the run stays queued.
  const pools = await startWorkerPools(h.system, { agents: [], sweep: { everyMs: 50, graceMs: 100 } });
  try {
    // Past its grace the sweeper looks at it, and again a grace after: kept both times.
    await poll(
      'the sweeper to keep the run twice',
      () => kept.mock.calls.filter(([, runs]) => runs.some((r) => r.runId === id)).length,
      (n) => n >= 2,
    );
    await Promise.all(kept.mock.results.map((r) => r.value));
    expect((await h.system.api.queries.get(h.system.scope(), id)).status).toBe('queued');
  } finally {
    await pools.close();
    kept.mockRestore();
  }
  await withPools(async () => expect((await h.waitForRun(id)).status).toBe('succeeded'));
});

it('answers 500, not 503, for a failure that is not a lost connection', async () => {
  const create = vi.spyOn(h.system.api.store.records, 'create').mockRejectedValueOnce(new TypeError('a bug'));
  try {
    const res = await h.request('POST', '/v1/runs', { workflow: 'chain', input: {} });
    expect(res.status).toBe(500);
  } finally {
    create.mockRestore();
  }
});

describe('a single-step run', () => {
  it('is one job (no root): the write of its result finishes the run', async () => {
    const finish = vi.spyOn(h.system.engine.store.endings, 'finish');
    const add = vi.spyOn(h.system.api.flowProducer, 'add');
    const seen: string[] = [];
    try {
      await withPools(async (pools) => {
        pools.workers.find((w) => w.name === 'agent.e')!.on('active', (job) => seen.push(job.id!));
        const res = await h.request('POST', '/v1/runs', { agent: 'e', input: { task: 'one job' } });
        const run = await h.waitForRun(res.body.id);
        expect(run).toMatchObject({ status: 'succeeded', output: '[e] one job', workflow: 'agent/e' });
        // Written with its state in one round trip: no flow, no root.
        expect(add).not.toHaveBeenCalled();
        expect(seen).toEqual([`${res.body.id}.e`]);
        expect(await h.system.queue('runs').getJobCounts()).toMatchObject({ waiting: 0, active: 0, completed: 0, 'waiting-children': 0 });
        expect(finish.mock.calls.filter(([, runId]) => runId === res.body.id)).toHaveLength(0);
        await expectNoLiveJobs(h.system, res.body.id);
      });
    } finally {
      finish.mockRestore();
      add.mockRestore();
    }
  });

  it('ends failed, with its step failed, when its job fails outside the step machine', async () => {
    // Every delivery fails before the step machine records anything (as on a Redis error).
    const begin = vi.spyOn(h.system.engine.store.steps, 'begin').mockImplementation(async (_scope, runId) => {
      throw new Error(`LOADING Redis is loading the dataset in memory (${runId})`);
    });
    try {
      await withPools(async () => {
        const res = await h.request('POST', '/v1/runs', { agent: 'gpt', input: { task: 'never starts' } });
        const run = await h.waitForRun(res.body.id, 15_000);
        expect(run.status).toBe('failed');
        expect(run.steps[0]).toMatchObject({ stepId: 'gpt', status: 'failed', error: expect.stringContaining('LOADING') });
        expect(run.failedSteps).toEqual([{ stepId: 'gpt', kind: 'agent', agent: 'gpt', error: expect.stringContaining('LOADING') }]);
        expect(fake.requests.filter((r) => r.prompt === 'never starts')).toHaveLength(0);
      });
    } finally {
      begin.mockRestore();
    }
  });
});
