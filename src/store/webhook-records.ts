/**
 * Webhooks as Redis keeps them: a workspace's subscriptions (keys.webhooks: id → record), a
 * run's own webhook (keys.runWebhook, kept a week), and each webhook's delivery attempts
 * (keys.webhookDeliveries, the newest DELIVERIES_KEPT). Secrets are sealed by the caller
 * (src/webhooks/webhooks.ts): this module never sees one in clear. What resealing walks is
 * written with each webhook that has a secret: its workspace in the cell's set
 * (keys.webhookWorkspaces), and a run's own in its workspace's index (keys.runWebhookIndex).
 */
import type { Redis } from 'ioredis';
import { keys, parseRunKey } from './keys.js';
import { sealedSwap } from './scripts/index.js';
import type { Cell, Scope, ScopedRun } from './scope.js';
import type { WebhookDelivery, WebhookEventType } from '../model/webhook.js';

/** A webhook as stored: where it goes, what it is sent, its secret sealed. */
export interface WebhookRecord {
  id: string;
  url: string;
  events: WebhookEventType[];
  scheduleId?: string;
  /** The secret, sealed (absent: deliveries are not signed). */
  sealed?: string;
  createdAt: string;
}

/** Attempts kept per webhook. */
export const DELIVERIES_KEPT = 200;
const WEEK_SECONDS = 7 * 24 * 3600;
const RUN_PREFIX = 'run-';

export class WebhookRecords {
  constructor(private readonly redis: Redis) {}

  async put(scope: Scope, record: WebhookRecord): Promise<void> {
    const tx = this.redis.multi().hset(keys.webhooks(scope), record.id, JSON.stringify(record));
    if (record.events.includes('run.finished')) tx.hset(keys.webhooksFinished(scope), record.id, record.scheduleId ?? '');
    else tx.hdel(keys.webhooksFinished(scope), record.id);
    if (record.sealed !== undefined) tx.sadd(keys.webhookWorkspaces(scope), scope.workspace);
    await tx.exec();
  }

  async list(scope: Scope): Promise<WebhookRecord[]> {
    const all = await this.redis.hgetall(keys.webhooks(scope));
    return Object.values(all)
      .map((v) => JSON.parse(v) as WebhookRecord)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Delete a subscription and its deliveries; false when there was none. */
  async remove(scope: Scope, id: string): Promise<boolean> {
    const [[, n]] = (await this.redis
      .multi()
      .hdel(keys.webhooks(scope), id)
      .hdel(keys.webhooksFinished(scope), id)
      .del(keys.webhookDeliveries(scope, id))
      .exec()) as [[null, number]];
    return n > 0;
  }

  /**
   * A run's own webhook, kept a week (its id is `run-<runId>`); one that takes run.finished marks
   * the run as awaiting its finish notice in the same transaction, and one with a secret is
   * indexed for resealing (its expired neighbours pruned).
   */
  async putRun(scope: Scope, runId: string, record: Omit<WebhookRecord, 'id'>): Promise<void> {
    const tx = this.redis.multi().set(keys.runWebhook(scope, runId), JSON.stringify({ ...record, id: RUN_PREFIX + runId }), 'EX', WEEK_SECONDS);
    if (record.events.includes('run.finished')) tx.zadd(keys.finishNotices(scope), Date.now(), keys.run(scope, runId));
    if (record.sealed !== undefined) {
      const now = Date.now();
      const index = keys.runWebhookIndex(scope);
      tx.sadd(keys.webhookWorkspaces(scope), scope.workspace)
        .zremrangebyscore(index, '-inf', now)
        .zadd(index, now + WEEK_SECONDS * 1000, runId)
        .expire(index, WEEK_SECONDS);
    }
    await tx.exec();
  }

  /** A webhook by id: a subscription, or a run's own. */
  async get(scope: Scope, id: string): Promise<WebhookRecord | undefined> {
    const text = id.startsWith(RUN_PREFIX)
      ? await this.redis.get(keys.runWebhook(scope, id.slice(RUN_PREFIX.length)))
      : await this.redis.hget(keys.webhooks(scope), id);
    return text ? (JSON.parse(text) as WebhookRecord) : undefined;
  }

  /** In one round trip: the run's own webhook and the workspace's subscriptions. */
  async targets(scope: Scope, runId: string): Promise<{ run: WebhookRecord | undefined; subscriptions: WebhookRecord[] }> {
    const replies = (await this.redis.pipeline().get(keys.runWebhook(scope, runId)).hvals(keys.webhooks(scope)).exec()) as [
      [Error | null, string | null],
      [Error | null, string[]],
    ];
    const err = replies[0][0] ?? replies[1][0];
    if (err) throw err;
    const run = replies[0][1];
    return { run: run ? (JSON.parse(run) as WebhookRecord) : undefined, subscriptions: replies[1][1].map((v) => JSON.parse(v) as WebhookRecord) };
  }

  /** The workspaces of the cell that have (or had) a webhook with a secret. */
  workspaces(cell: Cell): Promise<string[]> {
    return this.redis.smembers(keys.webhookWorkspaces(cell));
  }

  /**
   * A page of the runs of the workspace whose own webhook, not yet expired, has a secret: from
   * `cursor` ('0' first), about `count`, and the cursor of the next page (undefined: the last).
   * A ZSCAN: every run indexed for the whole walk is in some page (one may be in two).
   */
  async sealedRunWebhooks(scope: Scope, cursor: string, count: number): Promise<{ runIds: string[]; next: string | undefined }> {
    const [next, flat] = await this.redis.zscan(keys.runWebhookIndex(scope), cursor, 'COUNT', count);
    const now = Date.now();
    const runIds: string[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) if (Number(flat[i + 1]) > now) runIds.push(flat[i]!);
    return { runIds, next: next === '0' ? undefined : next };
  }

  /**
   * Replace a webhook's record (a subscription, or a run's own: its id `run-<runId>`, its time to
   * live kept) if its secret is still sealed as `expectedSealed`; false when it changed or is gone.
   */
  swap(scope: Scope, expectedSealed: string, record: WebhookRecord): Promise<boolean> {
    const runId = record.id.startsWith(RUN_PREFIX) ? record.id.slice(RUN_PREFIX.length) : undefined;
    const [key, field] = runId === undefined ? [keys.webhooks(scope), record.id] : [keys.runWebhook(scope, runId), undefined];
    return sealedSwap(this.redis, { key, field, expectedSealed, record: JSON.stringify(record) });
  }

  /** Record an attempt (newest first, capped, kept a week after the last). */
  async recordDelivery(scope: Scope, id: string, delivery: WebhookDelivery): Promise<void> {
    const key = keys.webhookDeliveries(scope, id);
    await this.redis
      .multi()
      .lpush(key, JSON.stringify(delivery))
      .ltrim(key, 0, DELIVERIES_KEPT - 1)
      .expire(key, WEEK_SECONDS)
      .exec();
  }

  async deliveries(scope: Scope, id: string): Promise<WebhookDelivery[]> {
    return (await this.redis.lrange(keys.webhookDeliveries(scope, id), 0, -1)).map((v) => JSON.parse(v) as WebhookDelivery);
  }

  /** The run's finish notice is queued: forget it. */
  async finishNoticed(scope: Scope, runId: string): Promise<void> {
    await this.redis.zrem(keys.finishNotices(scope), keys.run(scope, runId));
  }

  /** Runs awaiting their finish notice, added (or last looked at) before `before` (ms). */
  async awaitingBefore(cell: Cell, before: number, limit: number): Promise<ScopedRun[]> {
    const members = await this.redis.zrangebyscore(keys.finishNotices(cell), '-inf', before, 'LIMIT', 0, limit);
    const runs = members.map((m) => parseRunKey(cell, m));
    const strays = members.filter((_, i) => !runs[i]);
    if (strays.length) await this.redis.zrem(keys.finishNotices(cell), ...strays);
    return runs.filter((r): r is ScopedRun => r !== undefined);
  }

  /** Look at these runs again later (their score bumped to now). */
  async touchAwaiting(cell: Cell, runs: readonly ScopedRun[]): Promise<void> {
    if (runs.length === 0) return;
    const now = Date.now();
    await this.redis.zadd(keys.finishNotices(cell), ...runs.flatMap((r) => [now, keys.run(r.scope, r.runId)]));
  }
}
