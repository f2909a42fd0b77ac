/**
 * Where Redis is, and the one place a connection to it is made: one server (REDIS_URL) or a
 * Redis Cluster (REDIS_CLUSTER_NODES). A cluster connection is an ioredis `Cluster`, which
 * answers every command Switchyard sends (each command's and each script's keys sit in one
 * slot: a cell's tag, or the global slot) and which BullMQ takes as its connection; it is typed
 * as `Redis` so that nothing above the store branches on the mode.
 */
import type { Writable } from 'node:stream';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';

/** One Redis server, or a cluster's nodes (some of them are enough). */
export type RedisTarget = { url: string; clusterNodes?: undefined } | { url?: string; clusterNodes: readonly { host: string; port: number }[] };

/** A cluster's options: those ClusterOptions takes at its top level, the rest for each node's connection. */
function clusterOptions(options: RedisOptions, base: ClusterOptions['redisOptions'] = {}): ClusterOptions {
  const { enableOfflineQueue, lazyConnect, retryStrategy: _ignored, ...node } = options;
  return {
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    redisOptions: { ...base, ...node },
  };
}

/** Where a configuration's Redis is: its cluster's nodes when it names them, else REDIS_URL. */
export function redisTarget(config: { redisUrl: string; cells: { clusterNodes?: readonly { host: string; port: number }[] | undefined } }): RedisTarget {
  return config.cells.clusterNodes?.length ? { clusterNodes: config.cells.clusterNodes } : { url: config.redisUrl };
}

/** A connection to `target`: a Redis, or a Cluster whose node connections take `options`. Its writes are coalesced per tick (coalesceWrites). */
export function connectRedis(target: RedisTarget, options: RedisOptions = {}): Redis {
  if (!target.clusterNodes) return coalesceWrites(new Redis(target.url, options));
  return coalesceWrites(new Cluster([...target.clusterNodes], clusterOptions(options)) as unknown as Redis);
}

/**
 * While a connection has commands awaiting their replies, the commands it is given in the same
 * turn of the event loop leave in one socket write at the end of that turn (its socket corked
 * at the first, uncorked on the next tick: one writev) instead of one system call each: under
 * load, the replies read from one chunk wake many runs at once, each sending its next command.
 * A command sent while none awaits its reply (one request at a time) is written at once, so
 * that Redis starts on it while this process goes on. Nothing else changes: each command is
 * written in the order given, before the loop next waits for I/O, and its reply is awaited as
 * before. Applied to the connection's every socket (a reconnection's too), to a cluster's node
 * connections, and to its duplicates (BullMQ's blocking ones).
 */
export function coalesceWrites(redis: Redis): Redis {
  if (coalesced.has(redis)) return redis;
  coalesced.add(redis);
  if (isCluster(redis)) {
    const cluster = redis as unknown as Cluster;
    for (const node of cluster.nodes()) coalesceWrites(node);
    cluster.on('+node', (node: Redis) => coalesceWrites(node));
    const duplicate = cluster.duplicate.bind(cluster);
    cluster.duplicate = ((...args: Parameters<Cluster['duplicate']>) =>
      coalesceWrites(duplicate(...args) as unknown as Redis)) as unknown as Cluster['duplicate'];
    return redis;
  }
  const busy = () => redis.commandQueue.length > 0;
  if (redis.stream) corkWhileBusy(redis.stream, busy);
  redis.on('connect', () => corkWhileBusy(redis.stream, busy));
  const duplicate = redis.duplicate.bind(redis);
  redis.duplicate = (...args: Parameters<Redis['duplicate']>) => coalesceWrites(duplicate(...args));
  return redis;
}

const coalesced = new WeakSet<Redis>();
const corked = new WeakSet<Writable>();

/** Writes to `stream` while `busy()` buffered (cork) until the next tick, then sent together (uncork). */
function corkWhileBusy(stream: Writable, busy: () => boolean): void {
  if (corked.has(stream)) return;
  corked.add(stream);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the stream as `this` (Reflect.apply below)
  const write = stream.write;
  let pending = false;
  const flush = () => {
    pending = false;
    stream.uncork();
  };
  stream.write = function (this: Writable, ...args: unknown[]) {
    if (!pending && busy()) {
      pending = true;
      stream.cork();
      process.nextTick(flush);
    }
    return Reflect.apply(write, stream, args) as boolean;
  } as Writable['write'];
}

/** Is this connection a cluster one? */
export function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
}

/** A new connection to where `redis` connects, with `options` over its own (a subscriber, a reader). */
export function duplicateConnection(redis: Redis, options: RedisOptions): Redis {
  if (!isCluster(redis)) return redis.duplicate(options);
  const cluster = redis as unknown as Cluster;
  return cluster.duplicate([], clusterOptions(options, cluster.options.redisOptions)) as unknown as Redis;
}

/** The connection's name (logs): its own, or its cluster nodes'. */
export function connectionName(redis: Redis): string | undefined {
  return isCluster(redis) ? (redis as unknown as Cluster).options.redisOptions?.connectionName : redis.options.connectionName;
}

/**
 * A connection whose errors are logged (once per outage, then its recovery) instead of
 * reaching ioredis' "unhandled error event" printout.
 */
export function watched(redis: Redis, logger: Logger): Redis {
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.warn({ connection: connectionName(redis), err: err.message }, 'Redis connection lost; retrying');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ connection: connectionName(redis) }, 'Redis connection back');
  });
  return redis;
}
