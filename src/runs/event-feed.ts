/**
 * Live run events for every viewer of a process over ONE blocking Redis connection.
 *
 * Viewers of the same run form a group with a cursor (the last event id handed to it); one
 * `XREAD BLOCK` covers every watched run's stream at its group's cursor. A viewer joining a run
 * first catches up from its own position with XRANGE on the ordinary connection, then receives
 * what the shared reader delivers after that. When a new run joins while the reader is blocked,
 * `CLIENT UNBLOCK` wakes it so the new stream is read at once.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { keys } from './keys.js';
import { parseEvent } from './run-store.js';
import type { RunEvent } from './types.js';

/** Stream ids (`<ms>-<seq>`) in order, exactly, whatever their digits. */
export function compareEventIds(a: string, b: string): number {
  const [a1 = 0n, a2 = 0n] = a.split('-').map(BigInt);
  const [b1 = 0n, b2 = 0n] = b.split('-').map(BigInt);
  if (a1 !== b1) return a1 < b1 ? -1 : 1;
  return a2 === b2 ? 0 : a2 < b2 ? -1 : 1;
}

interface Viewer {
  /** Deliveries with ids above this are queued for the viewer. */
  last: string;
  queue: RunEvent[];
  wake: (() => void) | undefined;
}

interface Group {
  cursor: string;
  viewers: Set<Viewer>;
}

export interface RunEventFeedOptions {
  /** The ordinary connection: catch-up reads and CLIENT UNBLOCK. The feed duplicates it for its blocking reads. */
  redis: Redis;
  prefix: string;
  logger: Logger;
  /** Longest single blocking read, ms. @default 5000 */
  blockMs?: number;
}

const PAGE = 500;

export class RunEventFeed {
  private readonly groups = new Map<string, Group>();
  private reader: Redis | undefined;
  private readerId: number | undefined;
  private loop: Promise<void> | undefined;
  /** Set while the read loop runs; cleared in the same tick it sees nothing left to read. */
  private running = false;
  private closed = false;
  private readonly blockMs: number;

  constructor(private readonly opts: RunEventFeedOptions) {
    this.blockMs = opts.blockMs ?? 5_000;
  }

  /** How many viewers are following runs now, and how many runs they follow. */
  stats(): { runs: number; viewers: number } {
    let viewers = 0;
    for (const g of this.groups.values()) viewers += g.viewers.size;
    return { runs: this.groups.size, viewers };
  }

  /**
   * The run's events after `after` (exclusive; from the start when omitted), then live ones
   * as they are appended, until `signal` fires or the feed closes. The caller stops reading
   * when it has seen what it waits for (`run.finished`).
   */
  async *follow(runId: string, after: string | undefined, signal: AbortSignal): AsyncGenerator<RunEvent> {
    let last = after ?? '0-0';
    let viewer: Viewer | undefined;
    let group: Group | undefined;
    try {
      // Catch up until this viewer can join the run's group without a gap.
      for (;;) {
        const existing = this.groups.get(runId);
        if (existing) {
          // Joined at once; what the group has had so far (up to its cursor) is read here.
          group = existing;
          viewer = { last, queue: [], wake: undefined };
          group.viewers.add(viewer);
          const until = group.cursor;
          while (compareEventIds(until, last) > 0) {
            const page = await this.read(runId, last, until);
            for (const e of page.events) yield e;
            if (page.entries < PAGE || page.lastId === undefined) break;
            last = page.lastId;
          }
          break;
        }
        const page = await this.read(runId, last, '+');
        for (const e of page.events) yield e;
        if (page.lastId !== undefined) last = page.lastId;
        if (page.entries < PAGE) {
          // The group reads on from the stream's real end: a viewer may have asked for a
          // point past it (its own position only filters what it is handed).
          const cursor = page.lastId ?? (await this.streamEnd(runId));
          if (signal.aborted || this.closed) return;
          if (this.groups.has(runId)) continue; // another viewer started it meanwhile: join that one
          group = { cursor, viewers: new Set() };
          viewer = { last, queue: [], wake: undefined };
          group.viewers.add(viewer);
          this.groups.set(runId, group);
          this.kick();
          break;
        }
      }
      const v = viewer;
      const stop = () => v.wake?.();
      signal.addEventListener('abort', stop, { once: true });
      try {
        while (!signal.aborted && !this.closed) {
          const e = v.queue.shift();
          if (e) {
            yield e;
            continue;
          }
          await new Promise<void>((r) => (v.wake = r));
          v.wake = undefined;
        }
      } finally {
        signal.removeEventListener('abort', stop);
      }
    } finally {
      if (group && viewer) {
        group.viewers.delete(viewer);
        if (group.viewers.size === 0 && this.groups.get(runId) === group) this.groups.delete(runId);
      }
    }
  }

  /** Stop the shared reader and end every viewer. */
  async close(): Promise<void> {
    this.closed = true;
    for (const g of this.groups.values()) for (const v of g.viewers) v.wake?.();
    this.reader?.disconnect();
    await this.loop;
  }

  /** A page of the stream: its events, how many entries it held (a bad one included) and the last entry's id. */
  private async read(runId: string, after: string, until: string): Promise<{ events: RunEvent[]; entries: number; lastId: string | undefined }> {
    const entries = await this.opts.redis.xrange(keys.events(this.opts.prefix, runId), `(${after}`, until, 'COUNT', PAGE);
    return { events: entries.flatMap(([id, fields]) => parseEvent(id, fields) ?? []), entries: entries.length, lastId: entries.at(-1)?.[0] };
  }

  /** The id of the stream's last entry (`0-0` when it has none). */
  private async streamEnd(runId: string): Promise<string> {
    const [last] = await this.opts.redis.xrevrange(keys.events(this.opts.prefix, runId), '+', '-', 'COUNT', 1);
    return last?.[0] ?? '0-0';
  }

  /** Make sure the reader runs and reads the current set of streams. */
  private kick(): void {
    if (this.closed) return;
    if (!this.running) {
      this.running = true;
      this.loop = this.run().catch((err: unknown) => {
        this.running = false;
        this.opts.logger.warn({ err: (err as Error).message }, 'event reader stopped');
      });
      return;
    }
    // Wakes a read already blocked on the old set of streams. One sent just before this
    // arrives at Redis reads the new set at its next round (within blockMs).
    if (this.readerId !== undefined) {
      this.opts.redis.client('UNBLOCK', this.readerId).catch((err: unknown) => this.opts.logger.debug({ err }, 'could not wake the event reader'));
    }
  }

  private async run(): Promise<void> {
    if (!this.reader) {
      // Blocking reads: no command timeout, and they wait out an outage (whatever the connection it copies does).
      const reader = this.opts.redis.duplicate({
        connectionName: 'switchyard-events',
        commandTimeout: undefined,
        enableOfflineQueue: true,
        autoResendUnfulfilledCommands: true,
        maxRetriesPerRequest: null,
      });
      reader.on('error', (err: unknown) => this.opts.logger.debug({ err }, 'event reader connection error'));
      // A reconnected reader has a new client id.
      reader.on('ready', () => {
        reader.client('ID').then(
          (id) => (this.readerId = Number(id)),
          () => undefined,
        );
      });
      this.reader = reader;
    }
    const reader = this.reader;
    if (this.readerId === undefined) this.readerId = Number(await reader.client('ID'));
    for (;;) {
      if (this.closed || this.groups.size === 0) {
        this.running = false; // in the same tick as the check: a later kick starts a new loop
        return;
      }
      const runIds = [...this.groups.keys()];
      const streams = runIds.map((id) => keys.events(this.opts.prefix, id));
      const cursors = runIds.map((id) => this.groups.get(id)!.cursor);
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await reader.xread('COUNT', PAGE, 'BLOCK', this.blockMs, 'STREAMS', ...streams, ...cursors)) as typeof reply;
      } catch (err) {
        if (this.closed) return;
        this.opts.logger.warn({ err: (err as Error).message }, 'event reader failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (!reply) continue; // timed out or woken to read a new set of streams
      for (const [key, entries] of reply) {
        const runId = runIds[streams.indexOf(key)];
        const group = runId === undefined ? undefined : this.groups.get(runId);
        if (!group || runId === undefined) continue;
        for (const [id, fields] of entries) {
          // Forward only: a reply read for an earlier group of the same run may arrive late.
          if (compareEventIds(id, group.cursor) <= 0) continue;
          group.cursor = id;
          const event = parseEvent(id, fields);
          if (!event) continue;
          for (const v of group.viewers) {
            if (compareEventIds(id, v.last) <= 0) continue;
            v.last = id;
            v.queue.push(event);
            v.wake?.();
          }
        }
      }
    }
  }
}
