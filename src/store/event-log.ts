/**
 * A run's event log: a list per run (an event's id is its position, from 1), or the JSON list of
 * a compacted run; read in pages, or followed live through the process's one event feed
 * (event-feed.ts). Events are appended only by the scripts that change state.
 */
import type { Redis } from 'ioredis';
import { compactedEvents, COMPACTED_FIELDS } from './compacted.js';
import { RunEventFeed } from './event-feed.js';
import { parseEvent, parseMessage } from './events.js';
import { keys } from './keys.js';
import type { Scope } from './scope.js';
import type { StoreContext } from './store-context.js';
import type { RunEvent } from '../model/run.js';

export class EventLog {
  private feed: RunEventFeed | undefined;

  constructor(private readonly ctx: StoreContext) {}

  /** At most `count` events after the id `after` (exclusive; 0 for the first), oldest first. */
  async read(scope: Scope, runId: string, after = 0, count = 1000): Promise<RunEvent[]> {
    return (await readEvents(this.ctx.redis, scope, runId, after, count)).events;
  }

  /**
   * A run's events after `after`, then live ones as they are appended, until `signal` fires.
   * Every follower of this process shares one Redis subscriber connection (see event-feed.ts).
   */
  follow(scope: Scope, runId: string, after: number | undefined, signal: AbortSignal): AsyncGenerator<RunEvent> {
    this.feed ??= new RunEventFeed({
      redis: this.ctx.redis,
      logger: this.ctx.logger,
      read: (s, id, from, count) => this.read(s, id, from, count),
      parse: parseMessage,
    });
    return this.feed.follow(scope, runId, after, signal);
  }

  /** Runs and viewers the shared event reader serves now. */
  feedStats(): { runs: number; viewers: number } {
    return this.feed?.stats() ?? { runs: 0, viewers: 0 };
  }

  /** Stop the shared event reader (its followers end). The connection is the caller's. */
  close(): void {
    this.feed?.close();
  }
}

/**
 * At most `count` entries of a run's event log after the id `after` (exclusive), live (its
 * list) or compacted, as events; `entries` counts what was read, bad entries included.
 */
export async function readEvents(redis: Redis, scope: Scope, runId: string, after: number, count: number): Promise<{ events: RunEvent[]; entries: number }> {
  const replies = await redis
    .pipeline()
    .lrange(keys.events(scope, runId), after, after + count - 1)
    .hget(keys.run(scope, runId), COMPACTED_FIELDS[2])
    .exec();
  const [[e1, live], [e2, compacted]] = replies as [[Error | null, string[]], [Error | null, string | null]];
  const err = e1 ?? e2;
  if (err) throw err;
  if (live.length === 0 && compacted) return compactedEvents(runId, compacted, after, count);
  return { events: live.flatMap((raw, i) => parseEvent(String(after + i + 1), raw, runId) ?? []), entries: live.length };
}
