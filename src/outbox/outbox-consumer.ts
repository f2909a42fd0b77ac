/**
 * Outbox consumer: drains the Redis stream the run engine appends to (atomically with its
 * state changes) into the result sink, the system of record.
 *
 * Delivery is at least once, never lost:
 * - an entry is acknowledged and deleted only after the sink resolved, so a sink outage or
 *   a crash leaves it pending in the consumer group;
 * - while the sink fails, the consumer backs off and re-reads its own pending entries
 *   (id `0`) before taking new ones (`>`), so order is kept per consumer;
 * - entries another consumer left pending longer than `claimIdleMs` (it crashed) are taken
 *   over with XAUTOCLAIM;
 * - the sink upserts, so a redelivered entry is harmless.
 * An entry that can never be written (unparseable, or refused with `NonRetryableError`) is
 * logged and acknowledged, so it cannot block the stream.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { NonRetryableError, toError } from '../errors/index.js';
import type { Logger } from '../logger.js';
import { readEvents } from '../store/event-log.js';
import { scopeOf, type Cell } from '../store/scope.js';
import { isTerminalRun, type RunEvent } from '../model/run.js';
import { parseEntry } from './outbox-entry.js';
import { keys } from '../store/keys.js';
import type { ResultSink } from './sink.js';

/** The outbox stream the engine appends to: fields `kind`, `id`, `doc` (JSON). */
export const outboxKey = keys.outbox;

/** A run's event stream: one field `e`, a RunEvent without `id` (the entry id is the event id). */
export const eventsKey = keys.events;

export interface OutboxConsumerOptions {
  /** Shared connection for acks, event reads and claims. Not closed by `stop()`. */
  redis: Redis;
  /** The cell whose outbox it reads (shared with the engine: see `outboxKey`). */
  cell: Cell;
  sink: ResultSink;
  logger: Logger;
  /** Consumer group. @default 'results' */
  group?: string;
  /** This consumer's name in the group. @default `${hostname}-${pid}-${random}` */
  consumer?: string;
  /** Entries read (and claimed) per round trip. @default 50 */
  batchSize?: number;
  /** How long a read waits for new entries; `stop()` never waits longer. @default 2000 */
  blockMs?: number;
  /**
   * Take over entries another consumer has held unacknowledged for this long (it crashed).
   * Keep it above `retryDelayMs.max`, or a consumer riding out a sink outage has its
   * entries taken from it (harmless, but wasteful). @default 60000
   */
  claimIdleMs?: number;
  /** Back-off between retries while the sink or Redis fails, doubling from min to max. @default {min: 250, max: 30000} */
  retryDelayMs?: { min: number; max: number };
}

export interface OutboxConsumerStats {
  /** Entries the sink accepted. */
  written: number;
  /** Sink writes that failed and will be retried. */
  failures: number;
  /** Entries of the current batch delivered to this consumer and not yet acknowledged. */
  pending: number;
  /** Entries dropped because they can never be written. */
  poisoned: number;
}

type StreamEntry = [id: string, fields: string[] | null];

export class OutboxConsumer {
  private readonly redis: Redis;
  private readonly key: string;
  private readonly cell: Cell;
  private readonly sink: ResultSink;
  private readonly logger: Logger;
  private readonly group: string;
  private readonly consumer: string;
  private readonly batchSize: number;
  private readonly blockMs: number;
  private readonly claimIdleMs: number;
  private readonly retryDelayMs: { min: number; max: number };

  /** Blocking reads get their own connection: `stop()` closes it to cut a read short. */
  private reader: Redis | undefined;
  private loop: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private stopping = false;
  private readonly abort = new AbortController();
  private readPendingFirst = true;
  private claimCursor = '0-0';
  private nextClaimAt = 0;
  private readonly sinkOutage: Outage;
  private readonly redisOutage: Outage;
  private readonly counters: OutboxConsumerStats = { written: 0, failures: 0, pending: 0, poisoned: 0 };

  constructor(options: OutboxConsumerOptions) {
    this.redis = options.redis;
    this.cell = options.cell;
    this.key = outboxKey(options.cell);
    this.sink = options.sink;
    this.group = options.group ?? 'results';
    this.consumer = options.consumer ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.logger = options.logger.child({ component: 'outbox', consumer: this.consumer });
    this.batchSize = options.batchSize ?? 50;
    this.blockMs = options.blockMs ?? 2000;
    this.claimIdleMs = options.claimIdleMs ?? 60_000;
    this.retryDelayMs = options.retryDelayMs ?? { min: 250, max: 30_000 };
    this.sinkOutage = new Outage(this.logger, 'result sink');
    this.redisOutage = new Outage(this.logger, 'redis');
  }

  /** Create the group if needed and start consuming in the background. */
  async start(): Promise<void> {
    if (this.loop || this.stopping) throw new Error('OutboxConsumer can be started once');
    await this.ensureGroup();
    this.reader = this.redis.duplicate();
    // A dropped connection is retried by ioredis and reported by the read that fails.
    this.reader.on('error', (err: unknown) => this.logger.debug({ err }, 'outbox reader connection error'));
    this.loop = this.run();
  }

  /**
   * Stop consuming: a write under way finishes and is acknowledged, the rest of the batch
   * stays pending (and is claimed by another consumer after `claimIdleMs`).
   */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  stats(): OutboxConsumerStats {
    return { ...this.counters };
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    if (!this.loop) return; // never started
    this.abort.abort();
    const reader = this.reader;
    // Cuts a blocking read short; the entries it might have taken stay pending, not lost.
    reader?.disconnect();
    await this.loop;
    if (reader) await closed(reader);
    await this.leaveGroupIfIdle();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.reclaimIfDue();
        const entries = await this.read();
        this.redisOutage.recovered();
        const ok = await this.handle(entries);
        if (!ok) {
          this.readPendingFirst = true;
          await this.backoff(this.sinkOutage.attempts);
        }
      } catch (err) {
        if (this.stopping) break; // the reader was closed on purpose
        const error = toError(err);
        this.readPendingFirst = true;
        // Redis reports its error codes as the first word of the message.
        if (error.message.startsWith('NOGROUP')) {
          // The stream was deleted under us (e.g. a manual cleanup): recreate and go on.
          this.logger.warn({ key: this.key, group: this.group }, 'outbox group missing; recreating it');
          await this.ensureGroup().catch((e: unknown) => this.redisOutage.failed(toError(e)));
          continue;
        }
        this.redisOutage.failed(error);
        await this.backoff(this.redisOutage.attempts);
      }
    }
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.key, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!toError(err).message.startsWith('BUSYGROUP')) throw err;
    }
  }

  /** Our own pending entries first (retries, claimed entries), then new ones. */
  private async read(): Promise<StreamEntry[]> {
    const reader = this.reader;
    if (!reader) return [];
    if (this.readPendingFirst) {
      const reply = await reader.xreadgroup('GROUP', this.group, this.consumer, 'COUNT', this.batchSize, 'STREAMS', this.key, '0');
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length > 0) return entries;
      this.readPendingFirst = false;
    }
    if (this.stopping) return [];
    const reply = await reader.xreadgroup('GROUP', this.group, this.consumer, 'COUNT', this.batchSize, 'BLOCK', this.blockMs, 'STREAMS', this.key, '>');
    return reply?.[0]?.[1] ?? [];
  }

  /** Write entries in order; false when the sink failed (that entry and the rest stay pending). */
  private async handle(entries: StreamEntry[]): Promise<boolean> {
    this.counters.pending = entries.length;
    for (const [id, fields] of entries) {
      if (this.stopping) return true;
      if (!(await this.handleOne(id, fields))) return false;
      this.counters.pending--;
    }
    return true;
  }

  private async handleOne(entryId: string, fields: string[] | null): Promise<boolean> {
    if (fields === null) {
      // Deleted from the stream while pending: nothing left to write.
      this.logger.warn({ entryId }, 'pending outbox entry no longer exists; acknowledging it');
      await this.ack(entryId);
      return true;
    }
    const parsed = parseEntry(fields);
    if (!parsed.ok) {
      await this.drop(entryId, parsed.reason, fields);
      return true;
    }
    const { entry } = parsed;
    // A finished run's entry carries its event log (read before calling the sink: a Redis
    // failure here is a Redis outage, not a sink one); a live run's log stays in Redis.
    const events = entry.kind === 'run' && isTerminalRun(entry.doc.status) ? await this.readEvents(entry.doc.workspaceId, entry.doc.id, entryId) : [];
    try {
      if (entry.kind === 'run')
        await this.sink.writeRun({ doc: entry.doc, events, ...(entry.definition === undefined ? {} : { definition: entry.definition }) }, { entryId });
      else if (entry.kind === 'step') await this.sink.writeStep(entry.doc, { entryId, ...(entry.workspaceId ? { workspaceId: entry.workspaceId } : {}) });
      else if (entry.kind === 'conversation') await this.sink.writeConversation(entry.doc, { deleted: entry.deleted });
      else await this.sink.writeAudit(entry.doc);
    } catch (err) {
      const error = toError(err);
      if (error instanceof NonRetryableError) {
        await this.drop(entryId, error.message, fields, error);
        return true;
      }
      this.counters.failures++;
      this.sinkOutage.failed(error, { entryId, kind: entry.kind, id: entry.id });
      return false;
    }
    this.counters.written++;
    this.sinkOutage.recovered();
    await this.ack(entryId);
    return true;
  }

  /** The run's whole event log, in order, read in pages so a long log is not one huge reply. */
  private async readEvents(workspaceId: string, runId: string, entryId: string): Promise<RunEvent[]> {
    const scope = scopeOf(this.cell, workspaceId);
    const events: RunEvent[] = [];
    let invalid = 0;
    for (let from = 0; ; from += 500) {
      const page = await readEvents(this.redis, scope, runId, from, 500);
      events.push(...page.events);
      invalid += page.entries - page.events.length;
      if (page.entries < 500) break;
    }
    if (invalid > 0) this.logger.warn({ runId, entryId, invalid }, 'skipped unparseable run events');
    return events;
  }

  private async ack(entryId: string): Promise<void> {
    // XDEL too: acknowledged entries are of no further use and the stream must not grow.
    const results = await this.redis.multi().xack(this.key, this.group, entryId).xdel(this.key, entryId).exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw toError(failed?.[0] ?? new Error('outbox ack transaction aborted'));
  }

  private async drop(entryId: string, reason: string, fields: string[], err?: Error): Promise<void> {
    this.counters.poisoned++;
    this.logger.error({ entryId, reason, err, entry: fields.join(' ').slice(0, 500) }, 'dropping outbox entry that can never be written');
    await this.ack(entryId);
  }

  /** Take over entries a crashed consumer left behind; they are then read as our own pending. */
  private async reclaimIfDue(): Promise<void> {
    if (Date.now() < this.nextClaimAt) return;
    const reply = (await this.redis.xautoclaim(this.key, this.group, this.consumer, this.claimIdleMs, this.claimCursor, 'COUNT', this.batchSize, 'JUSTID')) as [
      string,
      string[],
      ...unknown[],
    ];
    const [cursor, claimed] = reply;
    this.claimCursor = cursor;
    // A non-zero cursor means more to scan: go on at once, otherwise wait half an idle period.
    this.nextClaimAt = cursor === '0-0' ? Date.now() + Math.max(50, this.claimIdleMs / 2) : 0;
    if (claimed.length > 0) {
      this.logger.info({ claimed: claimed.length }, 'claimed outbox entries left pending by another consumer');
      this.readPendingFirst = true;
    }
  }

  private async backoff(attempt: number): Promise<void> {
    const { min, max } = this.retryDelayMs;
    const ceiling = Math.min(max, min * 2 ** Math.max(0, attempt - 1));
    // Jitter so that consumers sharing one outage do not retry in lock-step.
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    await sleep(delay, undefined, { signal: this.abort.signal }).catch(() => undefined);
  }

  /**
   * A consumer name is fresh per process, so delete it on a clean stop or the group's
   * consumer list grows with every restart. Only when it holds nothing: deleting a consumer
   * drops its pending entries.
   */
  private async leaveGroupIfIdle(): Promise<void> {
    if (this.redis.status !== 'ready') return;
    try {
      const mine = await this.redis.xpending(this.key, this.group, '-', '+', 1, this.consumer);
      if (Array.isArray(mine) && mine.length === 0) {
        await this.redis.xgroup('DELCONSUMER', this.key, this.group, this.consumer);
      }
    } catch (err) {
      this.logger.debug({ err }, 'could not remove idle outbox consumer from its group');
    }
  }
}

/** Logs the first failure of an outage and its end, not every failed attempt in between. */
class Outage {
  attempts = 0;
  private since: number | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  failed(err: Error, context: Record<string, unknown> = {}): void {
    this.attempts++;
    if (this.since === undefined) {
      this.since = Date.now();
      this.logger.error({ err, ...context }, `${this.what} unavailable; outbox entries stay pending and are retried`);
    } else {
      this.logger.debug({ err, attempts: this.attempts, ...context }, `${this.what} still unavailable`);
    }
  }

  recovered(): void {
    if (this.since === undefined) return;
    this.logger.info({ downMs: Date.now() - this.since, attempts: this.attempts }, `${this.what} recovered`);
    this.since = undefined;
    this.attempts = 0;
  }
}

/** Resolves once an ioredis connection has fully ended, so no socket outlives `stop()`. */
function closed(redis: Redis): Promise<void> {
  if (redis.status === 'end') return Promise.resolve();
  return new Promise((resolve) => redis.once('end', () => resolve()));
}
