/**
 * The only place the environment is read. `loadConfig()` parses it once with zod and fails
 * fast with a message naming the bad variable.
 */
import { z } from 'zod';
import { ConfigError, issuesFromZod } from '../errors/index.js';

const emptyToUndefined = (v: unknown) => (v === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const optionalUrl = z.preprocess(emptyToUndefined, z.url().optional());
const int = (def: number, min = 0) => z.preprocess(emptyToUndefined, z.coerce.number().int().min(min).default(def));
const bool = (def: boolean) =>
  z.preprocess(emptyToUndefined, z.enum(['true', 'false', '1', '0']).default(def ? 'true' : 'false')).transform((v) => v === 'true' || v === '1');

/** Bounds on what a request may ask for (a bad one is a 422, never a blocked event loop). */
export interface Limits {
  /** Most steps in a workflow. @default 1000 */
  maxSteps: number;
  /** Deepest nesting of a request body, of the blocks of a workflow. @default 64 */
  maxJsonDepth: number;
  /** Most event streams one process serves at once. @default 1000 */
  maxEventStreams: number;
}

export const DEFAULT_LIMITS: Limits = { maxSteps: 1000, maxJsonDepth: 64, maxEventStreams: 1000 };

export const EnvSchema = z.object({
  /** Redis for queues and live run state. */
  REDIS_URL: z.preprocess(emptyToUndefined, z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').default('redis://127.0.0.1:6379')),
  /** MongoDB, the system of record. Optional: without it Switchyard runs on Redis alone. */
  MONGODB_URI: z.preprocess(emptyToUndefined, z.string().regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://').optional()),
  /** HTTP port of the API. */
  PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65535).default(3000)),
  /** A worker process without the API serves GET /metrics on this port (none by default). */
  SWITCHYARD_METRICS_PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(65535).optional()),
  /** Agents file (YAML). */
  SWITCHYARD_AGENTS: z.preprocess(emptyToUndefined, z.string().default('./agents.yaml')),
  /** Directory of workflow YAML files. */
  SWITCHYARD_FLOWS: z.preprocess(emptyToUndefined, z.string().default('./flows')),
  /** BullMQ key prefix. A `{hash tag}` keeps every key in one Redis Cluster slot. */
  SWITCHYARD_PREFIX: z.preprocess(emptyToUndefined, z.string().regex(/^[^:\s]+$/, 'must not contain ":" or spaces').default('{sy}')),
  /** How long finished runs (state, events, jobs) stay in Redis, in seconds. */
  SWITCHYARD_RETENTION_SECONDS: int(7 * 24 * 3600, 1),
  /** Completed jobs each queue keeps for Bull Board (0: a job is removed once it completes; its run keeps everything). */
  SWITCHYARD_KEEP_COMPLETED_JOBS: int(0, 0),
  /** Largest accepted JSON request body. */
  SWITCHYARD_BODY_LIMIT: z.preprocess(emptyToUndefined, z.string().default('1mb')),
  /** Most steps a workflow may have (definition and compiled form). */
  SWITCHYARD_MAX_STEPS: int(DEFAULT_LIMITS.maxSteps, 1),
  /** Deepest nesting of objects and arrays a request body (or a workflow's blocks) may have. */
  SWITCHYARD_MAX_JSON_DEPTH: int(DEFAULT_LIMITS.maxJsonDepth, 2),
  /** Most event streams (SSE viewers) one process serves at once; more answer 503. */
  SWITCHYARD_MAX_EVENT_STREAMS: int(DEFAULT_LIMITS.maxEventStreams, 1),
  /** How long a graceful shutdown waits for in-flight steps before giving up, in ms. */
  SWITCHYARD_SHUTDOWN_TIMEOUT_MS: int(30_000, 0),
  /** How long start-up waits for Redis to answer before it gives up (exit 69), in ms. */
  SWITCHYARD_REDIS_WAIT_MS: int(30_000, 0),
  /**
   * The longest a provider's 429 or overload pauses a model (and its agents' queues), in ms;
   * then one probe call decides whether the pause goes on. A 429 whose Retry-After is longer
   * is a spent quota, not a rate limit: the call goes to a fallback or its step fails
   * (`quota_exhausted`). Default 5 minutes.
   */
  SWITCHYARD_MAX_PAUSE_MS: int(300_000, 1000),
  /** When true, an agent whose provider has no API key fails start-up instead of using echo. */
  SWITCHYARD_REQUIRE_KEYS: bool(false),
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl,
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl,
  /** pino level: fatal, error, warn, info, debug, trace, silent. */
  LOG_LEVEL: z.preprocess(emptyToUndefined, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
});
export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  redisUrl: string;
  mongodbUri: string | undefined;
  port: number;
  metricsPort: number | undefined;
  agentsFile: string;
  flowsDir: string;
  prefix: string;
  retentionSeconds: number;
  keepCompletedJobs: number;
  bodyLimit: string;
  limits: Limits;
  shutdownTimeoutMs: number;
  redisWaitMs: number;
  /** See SWITCHYARD_MAX_PAUSE_MS. */
  maxPauseMs: number;
  requireKeys: boolean;
  logLevel: Env['LOG_LEVEL'];
  providers: {
    anthropic: { apiKey: string | undefined; baseURL: string | undefined };
    openai: { apiKey: string | undefined; baseURL: string | undefined };
  };
}

/** Parse an environment (default `process.env`); throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issues = issuesFromZod(parsed.error.issues);
    throw new ConfigError(
      `invalid environment: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  const e = parsed.data;
  return {
    redisUrl: e.REDIS_URL,
    mongodbUri: e.MONGODB_URI,
    port: e.PORT,
    metricsPort: e.SWITCHYARD_METRICS_PORT,
    agentsFile: e.SWITCHYARD_AGENTS,
    flowsDir: e.SWITCHYARD_FLOWS,
    prefix: e.SWITCHYARD_PREFIX,
    retentionSeconds: e.SWITCHYARD_RETENTION_SECONDS,
    keepCompletedJobs: e.SWITCHYARD_KEEP_COMPLETED_JOBS,
    bodyLimit: e.SWITCHYARD_BODY_LIMIT,
    limits: { maxSteps: e.SWITCHYARD_MAX_STEPS, maxJsonDepth: e.SWITCHYARD_MAX_JSON_DEPTH, maxEventStreams: e.SWITCHYARD_MAX_EVENT_STREAMS },
    shutdownTimeoutMs: e.SWITCHYARD_SHUTDOWN_TIMEOUT_MS,
    redisWaitMs: e.SWITCHYARD_REDIS_WAIT_MS,
    maxPauseMs: e.SWITCHYARD_MAX_PAUSE_MS,
    requireKeys: e.SWITCHYARD_REQUIRE_KEYS,
    logLevel: e.LOG_LEVEL,
    providers: {
      anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseURL: e.ANTHROPIC_BASE_URL },
      openai: { apiKey: e.OPENAI_API_KEY, baseURL: e.OPENAI_BASE_URL },
    },
  };
}
