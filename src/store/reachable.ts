/**
 * Requests answer at once while Redis is unreachable. The API's connection never queues a
 * command offline and never re-sends one (see ApiSide in src/system.ts); this turns what it
 * then reports into an UnavailableError (503) that says so: a connection that is not ready
 * (checked first: nothing is sent), or a command that failed without a reply from Redis.
 * ioredis reports those with plain Errors and no class of their own, so their messages are
 * matched here, the one place that does. Our own errors, errors Redis replied with (a script
 * error is a bug) and anything else are left as they are.
 */
import { ReplyError, type Redis } from 'ioredis';
import { SwitchyardError, UnavailableError } from '../errors/index.js';

/** How ioredis words a command that got no reply (timed out, connection gone, offline). */
const NO_REPLY = ['Command timed out', 'Connection is closed', "Stream isn't writeable"];

export function whileReachable<T>(redis: Redis, what: string, fn: () => Promise<T>): Promise<T> {
  if (redis.status !== 'ready')
    return Promise.reject(
      new UnavailableError(`Redis cannot be reached (connection ${redis.status}); ${what} was not done, try again shortly`, 'redis_unreachable'),
    );
  // The caller's promise itself, with a handler for its failure: no async layer that only passes its value on.
  let done: Promise<T>;
  try {
    done = fn();
  } catch (err) {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passed on as fn threw it (as an async function would)
    return Promise.reject(unreached(redis, what, err));
  }
  return done.catch((err: unknown) => {
    throw unreached(redis, what, err);
  });
}

/** What `fn` failed with, as whileReachable reports it: an UnavailableError when Redis gave no reply, else as it is. */
function unreached(redis: Redis, what: string, err: unknown): unknown {
  if (err instanceof SwitchyardError || err instanceof ReplyError) return err;
  const lost = redis.status !== 'ready' || (err instanceof Error && NO_REPLY.some((m) => err.message.startsWith(m)));
  if (!lost) return err;
  return new UnavailableError(`Redis cannot be reached (${(err as Error).message}); ${what} may not have been done, try again shortly`, 'redis_unreachable');
}

/**
 * Whether a failed write may succeed when sent again: no reply (the connection, a timeout), or
 * a reply that names a passing state of the server (out of memory, a read-only replica, busy
 * running a script, loading, a failover). A script error (`ERR ...`: a bug, the same every
 * time) and errors raised before anything was sent (a value that cannot be encoded) are not.
 */
export function isTransientWriteError(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError || err instanceof SwitchyardError)
    return false;
  return !(err instanceof ReplyError) || !/^ERR\b/.test(err.message);
}
