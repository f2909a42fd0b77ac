/**
 * Start a Switchyard process from its configuration: the API, the worker pools, or both.
 * Handles graceful shutdown: stop accepting, let in-flight steps finish, close everything.
 */
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { loadAgentsFile, type AgentRegistry } from './agents/registry.js';
import { warnUnpriced } from './submit/budget-pricing.js';
import { warmRoutingPrices } from './submit/routing.js';
import { createApp } from './api/app.js';
import { authMode } from './auth/authenticator.js';
import { startCellPools, type WorkerPools } from './engine/pools.js';
import { MAX_TIMER_MS, loadConfig, type Config } from './config/env.js';
import { StartupError, ValidationError } from './errors/index.js';
import { createLogger, type Logger } from './logger.js';
import { connectMongo, createMongoArchive, type MongoHandle } from './outbox/mongo/index.js';
import { OutboxConsumer } from './outbox/outbox-consumer.js';
import { System } from './system.js';
import { configuredOptions } from './system-parts.js';
import { waitForRedis } from './store/redis-wait.js';
import { WorkflowCatalog } from './compile/catalog.js';
import { SchemaChecker } from './lang/schema-checker.js';
import { loadWorkflowsDir } from './compile/loader.js';

export interface BootOptions {
  api: boolean;
  /** Serve these agent pools; `true` = all, `false` = none. */
  workers: boolean | readonly string[];
}

export interface Running {
  system: System;
  server?: Server;
  pools?: WorkerPools;
  shutdown(): Promise<void>;
  /** A shutdown that takes longer than this (ms) is cut short: the process exits 1. */
  hardStopMs: number;
}

export async function boot(
  config: Config,
  opts: BootOptions,
  logger: Logger = createLogger(config.logLevel, { redactContent: config.logRedactContent, pretty: config.logFormat === 'pretty' }),
): Promise<Running> {
  const { registry, workflows, schemas } = loadDefinitions(config, opts, logger);

  // The port first: a process that cannot serve it stops before it touches Redis (no schedule,
  // no queue written) or takes any job. Until the process is ready, /healthz answers 200
  // (starting) and everything else 503.
  const front = opts.api
    ? await reserve(config.port, 'PORT')
    : config.metricsPort !== undefined
      ? await reserve(config.metricsPort, 'SWITCHYARD_METRICS_PORT')
      : undefined;
  let mongo: MongoHandle | undefined;
  try {
    // Before anything else connects: one clear line while Redis is not there, then a bounded wait.
    // With a cluster, its first node answering is enough to go on (ioredis finds the others).
    const first = config.cells.clusterNodes?.[0];
    await waitForRedis(first ? `redis://${first.host}:${first.port}` : config.redisUrl, { timeoutMs: config.redisWaitMs, logger });
    if (config.mongodbUri) {
      mongo = await connectMongo(config.mongodbUri, logger);
    } else {
      logger.info({ retentionSeconds: config.retentionSeconds }, 'MONGODB_URI is not set: results live in Redis only, for the retention period');
    }
  } catch (err) {
    front?.server.close();
    throw err;
  }

  const system = await built(
    () =>
      new System({
        ...configuredOptions(config),
        registry,
        workflows,
        logger,
        schemas,
        outbox: mongo !== undefined,
        ...(mongo ? { archive: createMongoArchive(mongo.models) } : {}),
      }),
    async () => {
      // What was started before it: the port, MongoDB, the schema checker (the System closes it otherwise).
      front?.server.close();
      await mongo?.close().catch(() => undefined);
      await schemas.close();
    },
  );
  const server = front?.server;
  let pools: WorkerPools | undefined;
  const outboxes: OutboxConsumer[] = [];
  const shuttingDown = new AbortController();
  try {
    await Promise.all(system.connections().map((r) => connectionReady(r, config.redisWaitMs)));
    // The flows' schedules are the default workspace's, in its cell.
    await system.forScope(system.scope()).schedules.syncFromFlows(system.scope());
    if (front) serveFront(front, { system, config, api: opts.api, shutdownSignal: shuttingDown.signal, mongo, logger });
    if (opts.workers !== false) {
      pools = await startCellPools(system, config.cells.serve, opts.workers === true ? {} : { agents: opts.workers });
      if (mongo) {
        // One consumer per cell served (cell 0's outbox also carries the global slot's audit log).
        for (const i of config.cells.serve ?? system.cells.map((_, i) => i)) {
          const consumer = new OutboxConsumer({ redis: system.engine.store.redis, cell: system.cells[i]!.cell, sink: mongo.sink, logger });
          outboxes.push(consumer);
          await consumer.start();
        }
      }
    }
  } catch (err) {
    server?.close();
    await pools?.close(1_000).catch(() => undefined);
    await system.close().catch(() => undefined);
    await mongo?.close().catch(() => undefined);
    throw err;
  }
  const credentials = opts.api ? await announceAuthMode(system, config, logger) : undefined;
  const port = (server?.address() as { port?: number } | null)?.port ?? config.port;
  logger.info(
    startupSummary({
      config,
      port,
      registry,
      api: opts.api,
      workers: pools === undefined ? undefined : typeof opts.workers === 'object' ? opts.workers.join(', ') : 'every agent',
      archive: mongo !== undefined,
      credentials,
    }),
    'switchyard started',
  );

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    (stopping ??= (async () => {
      logger.info('shutting down: in-flight steps finish first');
      shuttingDown.abort();
      if (server) await closeServer(server);
      await pools?.close(config.shutdownTimeoutMs);
      await Promise.all(outboxes.map((o) => o.stop()));
      await system.close();
      await mongo?.close();
      logger.info('stopped');
    })());

  // The pools' own deadline, the outbox, MongoDB and Redis' closing, with room to spare (a timer takes at most MAX_TIMER_MS).
  return {
    system,
    ...(server ? { server } : {}),
    ...(pools ? { pools } : {}),
    shutdown,
    hardStopMs: Math.min(config.shutdownTimeoutMs + 15_000, MAX_TIMER_MS),
  };
}

/**
 * The one start-up line: what listens where, which agents call their provider and which fall
 * back to echo (each also warned about, with its reason, as the agents file is read), where
 * results go, and the mode of credentials.
 */
function startupSummary(p: {
  config: Config;
  port: number;
  registry: AgentRegistry;
  api: boolean;
  workers: string | undefined;
  archive: boolean;
  credentials: string | undefined;
}) {
  const { config, registry } = p;
  const agents = registry.list();
  const url = `http://localhost:${p.port}`;
  return {
    ...(p.api ? { api: url, board: `${url}/admin/queues` } : {}),
    ...(!p.api && config.metricsPort !== undefined ? { metrics: `http://localhost:${config.metricsPort}/metrics` } : {}),
    workers: p.workers ?? 'none (API only)',
    live: agents.filter((a) => !a.fallbackReason).map((a) => `${a.name} (${a.provider}/${a.model})`),
    echo: agents.filter((a) => a.fallbackReason).map((a) => a.name),
    results: p.archive ? 'Redis, archived to MongoDB' : `Redis only, for ${config.retentionSeconds} s`,
    ...(p.credentials ? { credentials: p.credentials } : {}),
  };
}

/** Say loudly when the API answers requests without a credential (the open development mode); the mode, for the summary. */
async function announceAuthMode(system: System, config: Config, logger: Logger): Promise<string> {
  const mode = authMode(config.auth);
  const open = mode === 'open' || (mode === 'auto' && !(await system.keys.any().catch(() => true)));
  if (!open) return `required (${mode === 'auto' ? 'an API key exists' : config.auth.production ? 'NODE_ENV=production' : 'a JWT issuer is configured'})`;
  const why = mode === 'open' ? 'SWITCHYARD_DEV_OPEN=1' : 'no API key exists and no JWT issuer is configured';
  logger.warn(
    { auth: 'open' },
    `OPEN DEVELOPMENT MODE (${why}): requests without a credential act for the "default" workspace with every scope. ` +
      'Anyone who reaches this port can submit, read and cancel runs. Create a key (npm run keys -- create ...) or set NODE_ENV=production to require credentials.',
  );
  return 'OPEN (development mode)';
}

/** The agents file and flows/, checked: what the process serves. */
function loadDefinitions(config: Config, opts: BootOptions, logger: Logger): { registry: AgentRegistry; workflows: WorkflowCatalog; schemas: SchemaChecker } {
  const registry = loadAgentsFile(config.agentsFile, config);
  for (const a of registry.list()) {
    if (a.fallbackReason) logger.warn({ agent: a.name, configured: a.configuredProvider }, `agent "${a.name}" uses the echo provider: ${a.fallbackReason}`);
  }
  warnUnpriced(registry, logger);
  warmRoutingPrices(registry);
  if (typeof opts.workers !== 'boolean') for (const a of opts.workers) registry.require(a);
  const schemas = new SchemaChecker(config.bounds);
  const workflows = new WorkflowCatalog(
    loadWorkflowsDir(config.flowsDir, registry.names(), config.bounds),
    () => registry.names(),
    config.bounds,
    (agent) => registry.get(agent),
    schemas,
  );
  return { registry, workflows, schemas };
}

/** Give the reserved port its handler: the API, or (a worker process without it) its metrics alone. */
function serveFront(
  front: { serve(handler: RequestListener): void },
  p: { system: System; config: Config; api: boolean; shutdownSignal: AbortSignal; mongo: MongoHandle | undefined; logger: Logger },
): void {
  const { system, config, mongo } = p;
  if (p.api) {
    front.serve(
      createApp(system, {
        bodyLimit: config.bodyLimit,
        bounds: config.bounds,
        auth: config.auth,
        apiRate: config.apiRate,
        shutdownSignal: p.shutdownSignal,
        ...(mongo ? { readiness: { mongodb: mongo.ping } } : {}),
      }),
    );
    return;
  }
  front.serve((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    system.metrics.text().then(
      (text) => res.writeHead(200, { 'Content-Type': system.metrics.contentType }).end(text),
      () => res.writeHead(503).end(),
    );
  });
}

/** Stop taking requests; a request still open after the grace period is cut (event streams already ended). */
async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((r) => server.close(() => r()));
  server.closeIdleConnections();
  const cut = setTimeout(() => server.closeAllConnections(), 5_000);
  await closed;
  clearTimeout(cut);
}

/** `build()`, or when it throws, `undo()` then the error. */
async function built<T>(build: () => T, undo: () => Promise<void>): Promise<T> {
  try {
    return build();
  } catch (err) {
    await undo();
    throw err;
  }
}

/** Resolves once the connection is ready (start-up has seen Redis answer: this is quick), or a StartupError after `timeoutMs`. */
function connectionReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new StartupError(`Redis answered, then did not let ${redis.options.connectionName} connect within ${timeoutMs} ms (SWITCHYARD_REDIS_WAIT_MS)`)),
      timeoutMs,
    );
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
    redis.once('end', () => {
      clearTimeout(timer);
      reject(new StartupError('a Redis connection closed during start-up'));
    });
  });
}

/**
 * Bind `port` before anything else is started: a server that answers while the process starts
 * (up to SWITCHYARD_REDIS_WAIT_MS for Redis), until `serve` gives it its handler: /healthz 200
 * (the process is alive: a liveness probe must not restart it), /readyz and the rest 503. A
 * StartupError naming `variable` when the port cannot be bound.
 */
async function reserve(port: number, variable: string): Promise<{ server: Server; serve(handler: RequestListener): void }> {
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
    void res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
  let handler: RequestListener = (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') return json(res, 200, { status: 'starting' });
    if (path === '/readyz') return json(res, 503, { status: 'starting' }, { 'Retry-After': '1' });
    json(res, 503, { error: { code: 'unavailable', message: 'Switchyard is starting; try again shortly' } }, { 'Retry-After': '1' });
  };
  const server = await listenOn(
    createServer((req, res) => handler(req, res)),
    port,
    variable,
  );
  return { server, serve: (h) => (handler = h) };
}

/** Resolves once `server` listens on `port`, or a StartupError naming the variable to change. */
function listenOn(server: Server, port: number, variable: string): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    server.once('listening', () => resolve(server));
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'is already in use (is another Switchyard running?)'
          : err.code === 'EACCES'
            ? 'may not be bound by this user'
            : `cannot be bound (${err.message})`;
      reject(new StartupError(`port ${port} ${why}; set ${variable} to a free port`));
    });
    server.listen(port);
  });
}

/** Exit cleanly on SIGTERM/SIGINT; a second signal exits at once. */
export function handleSignals(running: Running, logger: Logger): void {
  let count = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++count > 1) process.exit(1);
    logger.info({ signal }, 'signal received');
    // Nothing (an outage, a stuck close) keeps the process from exiting for good.
    setTimeout(() => {
      logger.error({ hardStopMs: running.hardStopMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, running.hardStopMs).unref();
    running.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/**
 * A process entry point: load the configuration, boot, exit cleanly on signals. Invalid
 * configuration (a ConfigError, or another ValidationError such as an unknown agent) exits 78
 * (EX_CONFIG) with its message; something the process needs and cannot get (Redis does not
 * answer, the port is taken: a StartupError) exits with its code (69, EX_UNAVAILABLE); both
 * print one line. Anything else is rethrown.
 */
export async function startProcess(opts: BootOptions): Promise<void> {
  try {
    const config = loadConfig();
    const logger = createLogger(config.logLevel, { redactContent: config.logRedactContent, pretty: config.logFormat === 'pretty' });
    const running = await boot(config, opts, logger);
    handleSignals(running, logger);
  } catch (err) {
    if (err instanceof ValidationError) {
      console.error(`switchyard: ${err.message}`);
      process.exit(78); // EX_CONFIG
    }
    if (err instanceof StartupError) {
      console.error(`switchyard: ${err.message}`);
      process.exit(err.exitCode);
    }
    throw err;
  }
}
