/**
 * Live run events for every viewer of a process over ONE Redis subscriber connection.
 *
 * A run's event log is a list (an event's id is its position, from 1); every append is also
 * published, as `<id> <event JSON>`, on the channel named like the log's key. Viewers of the
 * same run share one subscription. A viewer joins its run's group first, then (once the
 * subscription is confirmed) reads what it missed from the log: from then on every event
 * reaches it, from the log or from the channel, and ids tell duplicates and gaps. A gap (a
 * message lost while the subscriber reconnected) is read from the log; after a reconnect every
 * viewer reads the log from where it was.
 *
 * A live-only event (a streaming step's `step.delta`) is published on the same channel, never
 * logged, as `d<n> <event JSON>`: n is the id of the logged event it follows, so it reaches a
 * viewer after that event and before the next; one published before an event the viewer has
 * already been given (it joined meanwhile) is dropped, and one lost is not read again.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { keys } from './keys.js';
import { duplicateConnection } from './connection.js';
import type { Scope } from './scope.js';
import type { RunEvent } from '../model/run.js';

/** Reads a run's log after an id (exclusive), oldest first, at most `count`. */
export type ReadEvents = (scope: Scope, runId: string, after: number, count: number) => Promise<RunEvent[]>;

/**
 * A published message as its event (undefined when it is not one); `after` for a live-only
 * event (a `step.delta`): the id of the logged event it follows.
 */
export type ParseMessage = (runId: string, message: string) => Published | undefined;

/** A message of a run's channel: a logged event, or a live-only one published after the log's event `after`. */
export interface Published {
  event: RunEvent;
  after?: number;
}

interface Viewer {
  /** The id of the last logged event handed to the viewer. */
  last: number;
  queue: (Published | 'resync')[];
  wake: (() => void) | undefined;
}

interface Group {
  runId: string;
  /** The run's event channel (its log's key): what groups are found by. */
  channel: string;
  viewers: Set<Viewer>;
  /** Settles once the subscription is confirmed. */
  subscribed: Promise<void>;
}

export interface RunEventFeedOptions {
  /** The ordinary connection; the feed duplicates it for its subscriber. */
  redis: Redis;
  logger: Logger;
  read: ReadEvents;
  parse: ParseMessage;
}

const PAGE = 500;

export class RunEventFeed {
  /** By channel: a run's viewers share one subscription. */
  private readonly groups = new Map<string, Group>();
  private subscriber: Redis | undefined;
  private closed = false;

  constructor(private readonly opts: RunEventFeedOptions) {}

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
  async *follow(scope: Scope, runId: string, after: number | undefined, signal: AbortSignal): AsyncGenerator<RunEvent> {
    const viewer: Viewer = { last: after ?? 0, queue: ['resync'], wake: undefined };
    const group = this.join(scope, runId, viewer);
    const stop = () => viewer.wake?.();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await group.subscribed;
      while (!signal.aborted && !this.closed) {
        const next = viewer.queue.shift();
        if (next === undefined) {
          await new Promise<void>((r) => (viewer.wake = r));
          viewer.wake = undefined;
          continue;
        }
        // A resync, or an item past a gap: read the log up to it first.
        const until = next === 'resync' ? Infinity : (next.after ?? Number(next.event.id) - 1);
        while (viewer.last < until) {
          const count = Math.min(PAGE, until - viewer.last);
          const page = await this.opts.read(scope, runId, viewer.last, count);
          for (const e of page) {
            viewer.last = Number(e.id);
            yield e;
          }
          if (page.length < count) break;
        }
        if (next === 'resync') continue;
        // A delta published before an event already yielded came too late: it is dropped.
        if (next.after !== undefined) {
          if (next.after >= viewer.last) yield next.event;
          continue;
        }
        if (Number(next.event.id) <= viewer.last) continue; // read from the log already
        viewer.last = Number(next.event.id);
        yield next.event;
      }
    } finally {
      signal.removeEventListener('abort', stop);
      this.leave(group, viewer);
    }
  }

  /** Stop the subscriber and end every viewer. */
  close(): void {
    this.closed = true;
    for (const g of this.groups.values()) for (const v of g.viewers) v.wake?.();
    this.subscriber?.disconnect();
  }

  private join(scope: Scope, runId: string, viewer: Viewer): Group {
    const channel = keys.events(scope, runId);
    let group = this.groups.get(channel);
    if (!group) {
      const sub = this.connection();
      group = {
        runId,
        channel,
        viewers: new Set(),
        subscribed: sub.subscribe(channel).then(
          () => undefined,
          (err: unknown) =>
            this.opts.logger.warn({ runId, err: (err as Error).message }, 'could not subscribe to a run; its viewers read its log when the connection is back'),
        ),
      };
      this.groups.set(channel, group);
    }
    group.viewers.add(viewer);
    return group;
  }

  private leave(group: Group, viewer: Viewer): void {
    group.viewers.delete(viewer);
    if (group.viewers.size > 0 || this.groups.get(group.channel) !== group) return;
    this.groups.delete(group.channel);
    if (!this.closed) this.subscriber?.unsubscribe(group.channel).catch(() => undefined);
  }

  private connection(): Redis {
    if (this.subscriber) return this.subscriber;
    // Waits an outage out and subscribes again on reconnect (ioredis re-subscribes by itself).
    const sub = duplicateConnection(this.opts.redis, {
      connectionName: 'switchyard-events',
      commandTimeout: undefined,
      enableOfflineQueue: true,
      autoResendUnfulfilledCommands: true,
      autoResubscribe: true,
      maxRetriesPerRequest: null,
    });
    sub.on('error', (err: unknown) => this.opts.logger.debug({ err }, 'event subscriber connection error'));
    let connectedOnce = false;
    sub.on('ready', () => {
      // Messages published while it was away are lost: every viewer reads the log again.
      if (connectedOnce) for (const g of this.groups.values()) for (const v of g.viewers) this.push(v, 'resync');
      connectedOnce = true;
    });
    sub.on('message', (channel: string, message: string) => {
      const group = this.groups.get(channel);
      if (!group) return;
      const published = this.opts.parse(group.runId, message);
      if (!published) return;
      for (const v of group.viewers) this.push(v, published);
    });
    this.subscriber = sub;
    return sub;
  }

  private push(viewer: Viewer, item: Published | 'resync'): void {
    viewer.queue.push(item);
    viewer.wake?.();
  }
}
