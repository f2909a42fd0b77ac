/**
 * The MongoDB connection handle: opened without failing when MongoDB is down (the outbox
 * keeps results until it is back), with the models, the sink and a ping for /readyz.
 */
import { createConnection, type Connection } from 'mongoose';
import type { Logger } from '../../logger.js';
import { createModels, type MongoModels } from './models.js';
import { MongoSink } from './sink.js';

export interface MongoHandle {
  conn: Connection;
  models: MongoModels;
  sink: MongoSink;
  /** Can MongoDB be reached now? Never throws; bounded by `serverSelectionTimeoutMS`. */
  ping: () => Promise<boolean>;
  close(): Promise<void>;
}

export interface ConnectMongoOptions {
  /** How long an operation (or ping) waits for a usable server. @default 2000 */
  serverSelectionTimeoutMS?: number;
}

/**
 * Open MongoDB without failing when it is down: the handle is returned either way, /readyz
 * reports `ping() === false`, and the outbox keeps results until writes succeed. A first
 * connection that failed is retried on the next write or ping (the driver only reconnects
 * connections that were once up).
 */
export async function connectMongo(uri: string, logger: Logger, options: ConnectMongoOptions = {}): Promise<MongoHandle> {
  const log = logger.child({ component: 'mongo' });
  const timeout = options.serverSelectionTimeoutMS ?? 2000;
  const conn = createConnection();
  // Also marks a failed first connection as handled (no unhandled rejection).
  conn.on('error', (err: unknown) => log.debug({ err }, 'mongodb connection error'));
  conn.on('disconnected', () => log.warn('mongodb disconnected'));
  conn.on('reconnected', () => log.info('mongodb reconnected'));
  const models = createModels(conn);

  let opened = false;
  let closing = false;
  let opening: Promise<void> | undefined;
  const open = async (): Promise<void> => {
    // Fail fast instead of queueing operations while disconnected: the outbox is the queue.
    const connectOptions = { serverSelectionTimeoutMS: timeout, connectTimeoutMS: timeout, bufferCommands: false };
    try {
      await conn.openUri(uri, connectOptions);
      opened = true;
      log.info('mongodb connected');
    } catch (err) {
      // Release the failed client's monitors before a later attempt builds a new one.
      await conn.close().catch(() => undefined);
      throw err;
    }
  };
  const ensureConnected = async (): Promise<void> => {
    if (opened) return;
    if (closing) throw new Error('mongodb connection is closed');
    opening ??= open().finally(() => {
      opening = undefined;
    });
    await opening;
  };

  const close = async (): Promise<void> => {
    closing = true;
    await opening?.catch(() => undefined);
    await conn.close();
  };
  const ping = async (): Promise<boolean> => {
    try {
      await ensureConnected();
      await conn.db?.admin().command({ ping: 1 });
      return conn.db !== undefined;
    } catch {
      return false;
    }
  };

  const sink = new MongoSink({ models, ensureConnected, onClose: close });
  try {
    await ensureConnected();
  } catch (err) {
    log.warn({ err }, 'mongodb unreachable; results wait in the outbox until it is');
  }
  return { conn, models, sink, ping, close };
}
