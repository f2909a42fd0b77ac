/**
 * The outbox consumer on the real Redis, with an in-memory sink that can be told to fail:
 * every entry reaches the sink exactly once, outages and crashes lose nothing, poison is
 * skipped, and stop() is prompt and leaves nothing behind.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Redis as IORedis, type Redis } from 'ioredis';
import { NonRetryableError } from '../../src/errors/index.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { OutboxConsumer, eventsKey, outboxKey, type OutboxConsumerOptions } from '../../src/outbox/outbox-consumer.js';
import { cellOf, scopeOf } from '../../src/store/scope.js';
import type { ResultSink, RunWrite, WriteMeta } from '../../src/outbox/sink.js';
import type { RunEvent, RunRecord, StepRecord } from '../../src/model/run.js';
import type { AuditEntry } from '../../src/model/audit.js';
import { poll } from '../helpers/poll.js';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';

// ---------------------------------------------------------------------------------------
// Fakes and helpers

interface Write {
  kind: 'run' | 'step' | 'audit' | 'conversation';
  key: string;
  entryId: string | undefined;
  events?: RunEvent[];
}

/** Records every accepted write; `down` makes writes fail, `slowMs` makes them take time. */
class FakeSink implements ResultSink {
  readonly writes: Write[] = [];
  down = false;
  slowMs = 0;
  attempts = 0;
  inFlight = 0;
  /** Keys refused as permanently invalid. */
  readonly refuse = new Set<string>();

  async writeRun({ doc, events }: RunWrite, meta?: WriteMeta): Promise<void> {
    await this.write({ kind: 'run', key: doc.id, entryId: meta?.entryId, events });
  }

  async writeStep(doc: StepRecord, meta?: WriteMeta): Promise<void> {
    await this.write({ kind: 'step', key: `${doc.runId}.${doc.stepId}`, entryId: meta?.entryId });
  }

  async writeAudit(doc: AuditEntry): Promise<void> {
    await this.write({ kind: 'audit', key: doc.id, entryId: undefined });
  }

  async writeConversation(doc: { id: string }): Promise<void> {
    await this.write({ kind: 'conversation', key: doc.id, entryId: undefined });
  }

  async close(): Promise<void> {}

  /** How many times each key was written. */
  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const w of this.writes) counts.set(w.key, (counts.get(w.key) ?? 0) + 1);
    return counts;
  }

  private async write(w: Write): Promise<void> {
    this.attempts++;
    this.inFlight++;
    try {
      if (this.slowMs > 0) await new Promise((r) => setTimeout(r, this.slowMs));
      if (this.refuse.has(w.key)) throw new NonRetryableError(`refused ${w.key}`);
      if (this.down) throw new Error('sink down');
      this.writes.push(w);
    } finally {
      this.inFlight--;
    }
  }
}

const now = () => new Date().toISOString();

function step(runId: string, stepId: string): StepRecord {
  return {
    runId,
    stepId,
    kind: 'agent',
    agent: 'writer',
    parent: null,
    status: 'succeeded',
    dependsOn: [],
    optional: false,
    input: { task: 'x' },
    output: 'done',
    usage: { inputTokens: 1, outputTokens: 2 },
    model: 'echo',
    attempts: 1,
    recovered: false,
    reusedFrom: null,
    error: null,
    retryAt: null,
    reason: null,
    createdAt: now(),
    startedAt: now(),
    finishedAt: now(),
    feedback: null,
    debug: null,
    calls: null,
    routing: null,
  };
}

function run(id: string): RunRecord {
  return {
    id,
    workspaceId: 'default',
    workflow: 'research',
    status: 'succeeded',
    input: { topic: 'queues' },
    output: { answer: 42 },
    error: null,
    agents: ['writer'],
    failedSteps: [],
    skippedSteps: [],
    usage: { inputTokens: 1, outputTokens: 2 },
    priority: null,
    idempotencyKey: null,
    scheduleId: null,
    rerunOf: null,
    keyId: null,
    budget: null,
    context: null,
    contextWriters: null,
    outputs: null,
    createdAt: now(),
    startedAt: now(),
    finishedAt: now(),
  };
}

async function appendStep(redis: Redis, prefix: string, runId: string, stepId: string): Promise<void> {
  await redis.xadd(outboxKey(cellOf(prefix)), '*', 'kind', 'step', 'id', `${runId}.${stepId}`, 'doc', JSON.stringify(step(runId, stepId)));
}

async function appendRun(redis: Redis, prefix: string, runId: string): Promise<void> {
  await redis.xadd(outboxKey(cellOf(prefix)), '*', 'kind', 'run', 'id', runId, 'doc', JSON.stringify(run(runId)));
}

/** Append as the state scripts do (the run id is the log's); returns the event's id, its position. */
async function appendEvent(redis: Redis, prefix: string, event: Omit<RunEvent, 'id'>): Promise<string> {
  const { runId, ...rest } = event;
  return String(await redis.rpush(eventsKey(scopeOf(cellOf(prefix)), runId), JSON.stringify(rest)));
}

/** Entries delivered to the group and not acknowledged. */
async function pelSize(redis: Redis, prefix: string): Promise<number> {
  const summary = (await redis.xpending(outboxKey(cellOf(prefix)), 'results')) as [number, ...unknown[]];
  return Number(summary[0]);
}

const waitFor = (condition: () => boolean | Promise<boolean>) => poll('the condition', condition, Boolean, { intervalMs: 10 });

/** A logger whose lines the test can read. */
function capturingLogger(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
  return { logger, lines };
}

/**
 * The connections Redis holds for this file: the test's own client and every duplicate of
 * it (a consumer's blocking reader inherits the name). Counted on the server, so other test
 * files sharing this process (isolate: false) opening or closing sockets do not move it.
 */
const CONNECTION_NAME = `outbox-consumer-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
async function connectionsNamed(redis: Redis): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` name=${CONNECTION_NAME} `)).length;
}

// ---------------------------------------------------------------------------------------

describe('outbox consumer', () => {
  const prefix = testPrefix('outbox');
  let redis: Redis;
  let baselineConnections = 0;
  let streams = 0;
  const consumers: OutboxConsumer[] = [];

  /** A fresh stream per test, so consumers of one test never see another's entries. */
  const nextPrefix = () => `${prefix}-${++streams}`;

  const consumer = (options: Omit<OutboxConsumerOptions, 'redis' | 'logger'> & { logger?: Logger }) => {
    const c = new OutboxConsumer({ redis, logger: silentLogger, blockMs: 100, retryDelayMs: { min: 10, max: 50 }, ...options });
    consumers.push(c);
    return c;
  };

  beforeAll(async () => {
    redis = new IORedis(REDIS_URL, { maxRetriesPerRequest: null, connectionName: CONNECTION_NAME });
    await redis.ping();
    baselineConnections = await connectionsNamed(redis);
  });

  afterEach(async () => {
    // A test that forgets to stop a consumer leaks a connection: fail it, then clean up.
    // The server drops a closed socket a moment after the client: wait a little for it.
    const left = await poll(
      "the test's connections to close",
      () => connectionsNamed(redis),
      (n) => n === baselineConnections,
      {
        timeoutMs: 1_000,
      },
    ).catch(() => connectionsNamed(redis));
    await Promise.all(consumers.splice(0).map((c) => c.stop()));
    expect(left - baselineConnections, 'connections left open by the test').toBe(0);
  });

  afterAll(async () => {
    await cleanupPrefix(redis, prefix);
    await redis.quit();
  });

  it('writes every appended entry exactly once, then acknowledges and deletes it', async () => {
    const p = nextPrefix();
    const sink = new FakeSink();
    for (let i = 0; i < 20; i++) await appendStep(redis, p, 'run-a', `s${i}`);
    await appendRun(redis, p, 'run-a');
    const c = consumer({ cell: cellOf(p), sink, batchSize: 7 });
    await c.start();
    for (let i = 0; i < 10; i++) await appendStep(redis, p, 'run-b', `s${i}`);

    await waitFor(() => sink.writes.length >= 31);
    await c.stop();

    const counts = sink.counts();
    expect(counts.size).toBe(31);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(sink.writes.every((w) => w.entryId !== undefined)).toBe(true);
    expect(await pelSize(redis, p)).toBe(0);
    expect(await redis.xlen(outboxKey(cellOf(p)))).toBe(0);
    expect(c.stats()).toEqual({ written: 31, failures: 0, pending: 0, poisoned: 0 });
    // A clean stop with nothing pending removes the consumer's name from the group.
    expect(await redis.xinfo('CONSUMERS', outboxKey(cellOf(p)), 'results')).toEqual([]);
  });

  it('keeps entries pending while the sink fails, logs the outage once, and writes each exactly once after recovery', async () => {
    const p = nextPrefix();
    const sink = new FakeSink();
    sink.down = true;
    const { logger, lines } = capturingLogger();
    for (let i = 0; i < 10; i++) await appendStep(redis, p, 'run-c', `s${i}`);
    const c = consumer({ cell: cellOf(p), sink, logger, batchSize: 4 });
    await c.start();

    await waitFor(() => c.stats().failures >= 5);
    expect(sink.writes).toHaveLength(0);
    expect(await pelSize(redis, p)).toBeGreaterThan(0);
    expect(await redis.xlen(outboxKey(cellOf(p)))).toBe(10);

    sink.down = false;
    await waitFor(() => sink.writes.length >= 10);
    await c.stop();

    expect([...sink.counts().values()]).toEqual(Array(10).fill(1));
    expect(sink.writes.map((w) => w.key)).toEqual(Array.from({ length: 10 }, (_, i) => `run-c.s${i}`));
    expect(await pelSize(redis, p)).toBe(0);
    expect(await redis.xlen(outboxKey(cellOf(p)))).toBe(0);
    const errors = lines.filter((l) => l.level >= 50);
    expect(errors.map((l) => l.msg)).toEqual(['result sink unavailable; outbox entries stay pending and are retried']);
    expect(lines.filter((l) => l.msg === 'result sink recovered')).toHaveLength(1);
  });

  it('hands the entries of a consumer that died holding them to another consumer after claimIdleMs', async () => {
    const p = nextPrefix();
    // The first consumer reads the entries but can never write them, then goes away.
    const deadSink = new FakeSink();
    deadSink.down = true;
    const dead = consumer({ cell: cellOf(p), sink: deadSink, consumer: 'dead', claimIdleMs: 60_000 });
    for (let i = 0; i < 5; i++) await appendStep(redis, p, 'run-d', `s${i}`);
    await dead.start();
    await waitFor(() => deadSink.attempts > 0);
    await dead.stop();
    expect(await pelSize(redis, p)).toBe(5);

    const sink = new FakeSink();
    const heir = consumer({ cell: cellOf(p), sink, consumer: 'heir', claimIdleMs: 300 });
    const started = Date.now();
    await heir.start();
    await waitFor(() => sink.writes.length >= 5);
    await heir.stop();

    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect([...sink.counts().values()]).toEqual([1, 1, 1, 1, 1]);
    expect(await pelSize(redis, p)).toBe(0);
    expect(await redis.xlen(outboxKey(cellOf(p)))).toBe(0);
  });

  it('acknowledges and skips entries that can never be written, and goes on with the rest', async () => {
    const p = nextPrefix();
    const sink = new FakeSink();
    sink.refuse.add('run-e.refused');
    const key = outboxKey(cellOf(p));
    await redis.xadd(key, '*', 'kind', 'step', 'id', 'x', 'doc', '{not json');
    await redis.xadd(key, '*', 'kind', 'mystery', 'id', 'x', 'doc', '{}');
    await redis.xadd(key, '*', 'kind', 'run', 'id', 'x', 'doc', JSON.stringify({ id: 'x', status: 'exploded' }));
    await appendStep(redis, p, 'run-e', 'refused');
    await appendStep(redis, p, 'run-e', 'good');
    const c = consumer({ cell: cellOf(p), sink });
    await c.start();

    await waitFor(() => sink.writes.length >= 1 && c.stats().poisoned >= 4);
    await c.stop();

    expect(sink.writes.map((w) => w.key)).toEqual(['run-e.good']);
    expect(c.stats()).toMatchObject({ written: 1, poisoned: 4, failures: 0 });
    expect(await pelSize(redis, p)).toBe(0);
    expect(await redis.xlen(key)).toBe(0);
  });

  it("passes a run entry the run's events in log order, skipping unparseable ones", async () => {
    const p = nextPrefix();
    const sink = new FakeSink();
    const ids = [
      await appendEvent(redis, p, { type: 'run.queued', runId: 'run-f', at: now(), data: {} }),
      await appendEvent(redis, p, { type: 'step.started', runId: 'run-f', stepId: 'a', at: now(), data: { attempt: 1 } }),
    ];
    await redis.rpush(eventsKey(scopeOf(cellOf(p)), 'run-f'), 'garbage');
    ids.push(await appendEvent(redis, p, { type: 'run.finished', runId: 'run-f', at: now(), data: { status: 'succeeded' } }));
    await appendRun(redis, p, 'run-f');
    const c = consumer({ cell: cellOf(p), sink });
    await c.start();

    await waitFor(() => sink.writes.length >= 1);
    await c.stop();

    const events = sink.writes[0]?.events ?? [];
    expect(events.map((e) => e.id)).toEqual(ids);
    expect(events.map((e) => e.type)).toEqual(['run.queued', 'step.started', 'run.finished']);
    expect(events[1]).toMatchObject({ runId: 'run-f', stepId: 'a', data: { attempt: 1 } });
  });

  it('recreates its group when the stream is deleted under it, and goes on', async () => {
    const p = nextPrefix();
    const sink = new FakeSink();
    const c = consumer({ cell: cellOf(p), sink });
    await c.start();
    await redis.del(outboxKey(cellOf(p)));
    await appendStep(redis, p, 'run-h', 'after');

    await waitFor(() => sink.writes.length >= 1);
    await c.stop();
    expect(sink.writes.map((w) => w.key)).toEqual(['run-h.after']);
  });

  it('stops promptly during a blocking read and closes its own connection', async () => {
    const p = nextPrefix();
    const c = consumer({ cell: cellOf(p), sink: new FakeSink(), blockMs: 10_000 });
    await c.start();
    await poll(
      'the reader to block in its read',
      async () => ((await redis.client('LIST')) as string).split('\n').filter((l) => l.includes(` name=${CONNECTION_NAME} `)),
      (lines) => lines.some((l) => l.includes(' flags=b ') && l.includes(' cmd=xreadgroup ')),
    );
    expect(await connectionsNamed(redis)).toBe(baselineConnections + 1);

    const started = Date.now();
    await c.stop();
    expect(Date.now() - started).toBeLessThan(500);
    await poll(
      'the reader to close',
      () => connectionsNamed(redis),
      (n) => n === baselineConnections,
      { timeoutMs: 2_000 },
    );
  });

  it('lets a write under way finish and be acknowledged before stopping, leaving the rest pending', async () => {
    const p = nextPrefix();
    const sink = new FakeSink();
    sink.slowMs = 300;
    for (let i = 0; i < 3; i++) await appendStep(redis, p, 'run-g', `s${i}`);
    const c = consumer({ cell: cellOf(p), sink });
    await c.start();
    await waitFor(() => sink.inFlight === 1);

    await c.stop();

    expect(sink.inFlight).toBe(0);
    expect(sink.writes.map((w) => w.key)).toEqual(['run-g.s0']);
    expect(await redis.xlen(outboxKey(cellOf(p)))).toBe(2);
    expect(await pelSize(redis, p)).toBe(2);
  });
});
