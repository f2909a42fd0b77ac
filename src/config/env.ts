/**
 * The only place the environment is read. `loadConfig()` parses it once with zod and fails
 * fast with a message naming the bad variable.
 */
import { z } from 'zod';
import { ConfigError, issuesFromZod } from '../errors/index.js';
import { API_ENV, apiConfigOf, type ApiConfig } from './api-env.js';
import { CELLS_ENV, cellsConfigOf, type CellsConfig } from './cells-env.js';
import { EGRESS_ENV, egressConfigOf, type EgressConfig } from './egress-env.js';
import { MAX_TIMER_MS, emptyToUndefined, int, ms, bool, optionalString, optionalUrl } from './parse.js';
import { WORKSPACE_ENV, workspaceCapsOf } from './workspace-env.js';
import type { WorkspaceCaps } from '../model/workspace-limits.js';

export { MAX_TIMER_MS };
export type { ApiRateConfig, AuthConfig } from './api-env.js';
export type { CellsConfig } from './cells-env.js';
export type { EgressConfig } from './egress-env.js';

/** The deepest `when` nesting a setting may allow: expressions are walked recursively. */
export const MAX_EXPRESSION_DEPTH_SETTING = 1000;
/** A 32-byte AES key in base64 (never echoed back in an error). */
const secretKey = z.string().refine((v) => /^[A-Za-z0-9+/]+={0,2}$/.test(v.trim()) && Buffer.from(v.trim(), 'base64').length === 32, {
  message: 'must be 32 bytes in base64 (openssl rand -base64 32)',
});

/** Bounds on what a request may ask for (a bad one is a 422, never a blocked event loop). */
export interface Bounds {
  /** Most steps in a workflow. @default 1000 */
  maxSteps: number;
  /** Deepest nesting of a request body, of the blocks of a workflow. @default 64 */
  maxJsonDepth: number;
  /** Most event streams one process serves at once. @default 1000 */
  maxEventStreams: number;
  /** Longest `?wait=<seconds>` a submission may ask for (submit and wait), seconds. @default 60 */
  maxWaitSeconds: number;
  // What a small request may become once it runs (issue 20, items 2 and 9).
  /** Most UTF-8 bytes of the text a step's input renders into (and of a string a `when` builds). @default 1 MiB */
  maxRenderedBytes: number;
  /** Most UTF-8 bytes of a step's output (its JSON text). @default 1 MiB */
  maxOutputBytes: number;
  /** Most `orchestration.maxTurns` a request may ask for (and never above the agent's own). @default 20 */
  maxOrchestratorTurns: number;
  /** Most `orchestration.maxDelegations` a request may ask for (and never above the agent's own). @default 50 */
  maxDelegations: number;
  /** Most `orchestration.maxDepth` a request may ask for (and never above the agent's own). @default 3 */
  maxDelegationDepth: number;
  /** Largest `output.schema`, in characters of JSON. @default 65536 */
  maxSchemaChars: number;
  /** Most keys (keywords and property names, counted through) in one `output.schema`. @default 2000 */
  maxSchemaKeywords: number;
  /** Most branches of one `oneOf` or `anyOf` in an `output.schema` (ajv's code for oneOf grows with their square). @default 128 */
  maxSchemaBranches: number;
  /** Longest one schema compile or check may take (off the event loop) before it is cut short, ms. @default 5000 */
  schemaTimeoutMs: number;
  /** Longest a schema compile or check may take from when it is queued to its answer (waiting included), ms; then 503. @default 10000 */
  schemaDeadlineMs: number;
  /** Most schema compiles (or answer checks) waiting for their thread at once; more answer 503. @default 100 */
  schemaQueueMax: number;
  /** Most characters of compiled schema code each schema thread keeps (least recently used dropped first). @default 8 MiB */
  schemaCacheBytes: number;
  /** Heap of each schema thread, MB: past it the thread ends and its request fails (422 naming the setting). @default 128 */
  schemaThreadMb: number;
  /** Largest structured answer checked against its schema, in characters of JSON. @default 1000000 */
  maxValidatedChars: number;
  /** Longest `when` (or `until`) expression, in characters. @default 2000 */
  maxExpressionChars: number;
  /** Deepest nesting of a `when` expression (operators, calls and conditions). @default 50 */
  maxExpressionDepth: number;
  /** Most index entries one filtered listing reads before it answers with a cursor to go on. @default 1000 */
  maxListScan: number;
  /** Highest `maxItems` a request's forEach may set. @default 1000 */
  maxForEachItems: number;
  /** Highest `maxIterations` a request's loop may set. @default 20 */
  maxLoopIterations: number;
  /** Most UTF-8 bytes of one string (or key) in a request body. @default 1 MiB */
  maxFieldBytes: number;
  /** Most characters a step's transcript keeps of one part of a tool call (its arguments, its result or error). @default 1000 */
  transcriptPartChars: number;
}

/** BullMQ's lock and stalled-check timing of every worker by default, ms: a lost worker's steps go on within 30 s. */
export const DEFAULT_STALLED = { lockDuration: 20_000, stalledInterval: 10_000 };

/** Most bytes a step keeps of its last provider call, and of its tool calls, unless configured (SWITCHYARD_MAX_DEBUG_BYTES). */
export const DEFAULT_MAX_DEBUG_BYTES = 32_768;

export const DEFAULT_BOUNDS: Bounds = {
  maxSteps: 1000,
  maxJsonDepth: 64,
  maxEventStreams: 1000,
  maxWaitSeconds: 60,
  maxRenderedBytes: 1024 * 1024,
  maxOutputBytes: 1024 * 1024,
  maxOrchestratorTurns: 20,
  maxDelegations: 50,
  maxDelegationDepth: 3,
  maxSchemaChars: 65_536,
  maxSchemaKeywords: 2000,
  maxSchemaBranches: 128,
  schemaTimeoutMs: 5000,
  schemaDeadlineMs: 10_000,
  schemaQueueMax: 100,
  schemaCacheBytes: 8 * 1024 * 1024,
  schemaThreadMb: 128,
  maxValidatedChars: 1_000_000,
  maxExpressionChars: 2000,
  maxExpressionDepth: 50,
  maxListScan: 1000,
  maxForEachItems: 1000,
  maxLoopIterations: 20,
  maxFieldBytes: 1024 * 1024,
  transcriptPartChars: 1000,
};

export const EnvSchema = z.object({
  /** Redis for queues and live run state. */
  REDIS_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .default('redis://127.0.0.1:6379'),
  ),
  /** MongoDB, the system of record. Optional: without it Switchyard runs on Redis alone. */
  MONGODB_URI: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://')
      .optional(),
  ),
  /** HTTP port of the API. */
  PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65535).default(3000)),
  /** A worker process without the API serves GET /metrics on this port (none by default). */
  SWITCHYARD_METRICS_PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(65535).optional()),
  /** Agents file (YAML). */
  SWITCHYARD_AGENTS: z.preprocess(emptyToUndefined, z.string().default('./agents.yaml')),
  /** Directory of workflow YAML files. */
  SWITCHYARD_FLOWS: z.preprocess(emptyToUndefined, z.string().default('./flows')),
  /** BullMQ key prefix. A `{hash tag}` keeps every key in one Redis Cluster slot. */
  SWITCHYARD_PREFIX: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[^:\s]+$/, 'must not contain ":" or spaces')
      .default('{sy}'),
  ),
  /** How long finished runs (state, events, jobs) stay in Redis, in seconds. */
  SWITCHYARD_RETENTION_SECONDS: int(7 * 24 * 3600, 1),
  /** Completed jobs each queue keeps for Bull Board (0: a job is removed once it completes; its run keeps everything). */
  SWITCHYARD_KEEP_COMPLETED_JOBS: int(0, 0),
  /** Largest accepted JSON request body. */
  SWITCHYARD_BODY_LIMIT: z.preprocess(emptyToUndefined, z.string().default('1mb')),
  /** Most steps a run may have: those of its workflow and those added while it runs (forEach items, loop rounds, plans, delegations). */
  SWITCHYARD_MAX_STEPS: int(DEFAULT_BOUNDS.maxSteps, 1),
  /** Deepest nesting of objects and arrays a request body (or a workflow's blocks) may have. */
  SWITCHYARD_MAX_JSON_DEPTH: int(DEFAULT_BOUNDS.maxJsonDepth, 2),
  /** Most event streams (SSE viewers) one process serves at once; more answer 503. */
  SWITCHYARD_MAX_EVENT_STREAMS: int(DEFAULT_BOUNDS.maxEventStreams, 1),
  /** Longest `?wait=<seconds>` a submission may ask for (POST /v1/runs, /v1/chat/multi); more: 422 naming it. At most an hour. */
  SWITCHYARD_MAX_WAIT_SECONDS: int(DEFAULT_BOUNDS.maxWaitSeconds, 1, 3600),
  /**
   * Most bytes (JSON) a step keeps of its last provider call to debug it (request, answer or
   * error: `debug` on its record), and of the tool calls of its turns (`calls`); 0 keeps none.
   */
  SWITCHYARD_MAX_DEBUG_BYTES: int(DEFAULT_MAX_DEBUG_BYTES, 0),
  /** Most UTF-8 bytes a step's rendered input (every text in it) may have; also bounds strings a `when` builds. */
  SWITCHYARD_MAX_RENDERED_BYTES: int(DEFAULT_BOUNDS.maxRenderedBytes, 1024),
  /** Most characters a step's transcript (`calls`) keeps of a tool call's arguments, result or error; longer ones are cut and say so. */
  SWITCHYARD_TRANSCRIPT_PART_CHARS: int(DEFAULT_BOUNDS.transcriptPartChars, 32),
  /** Most UTF-8 bytes a step's output (its JSON text) may have; a bigger one fails the step. */
  SWITCHYARD_MAX_OUTPUT_BYTES: int(DEFAULT_BOUNDS.maxOutputBytes, 1024),
  /** Highest `orchestration.maxTurns` a request may set on a step (never above the agent's own, when it declares one). */
  SWITCHYARD_MAX_ORCHESTRATOR_TURNS: int(DEFAULT_BOUNDS.maxOrchestratorTurns, 2),
  /** Highest `orchestration.maxDelegations` a request may set on a step (never above the agent's own). */
  SWITCHYARD_MAX_DELEGATIONS: int(DEFAULT_BOUNDS.maxDelegations, 1),
  /** Highest `orchestration.maxDepth` a request may set on a step (never above the agent's own). */
  SWITCHYARD_MAX_DELEGATION_DEPTH: int(DEFAULT_BOUNDS.maxDelegationDepth, 1),
  /** Largest `output.schema` a request or a file may declare, in characters of JSON (more: 422). */
  SWITCHYARD_MAX_SCHEMA_CHARS: int(DEFAULT_BOUNDS.maxSchemaChars, 64),
  /** Most keys (keywords and property names, counted through) in one `output.schema` (more: 422). */
  SWITCHYARD_MAX_SCHEMA_KEYWORDS: int(DEFAULT_BOUNDS.maxSchemaKeywords, 4),
  /** Most branches of one `oneOf`/`anyOf` in an `output.schema` (more: 422). */
  SWITCHYARD_MAX_SCHEMA_BRANCHES: int(DEFAULT_BOUNDS.maxSchemaBranches, 2),
  /** Longest a schema compile or an answer's check may take in its thread, ms (then it is cut short: 422, or a failed step). */
  SWITCHYARD_SCHEMA_TIMEOUT_MS: ms(DEFAULT_BOUNDS.schemaTimeoutMs, 100),
  /** Longest a schema compile or check may take from when it is queued, waiting its turn included, ms (then 503). */
  SWITCHYARD_SCHEMA_DEADLINE_MS: ms(DEFAULT_BOUNDS.schemaDeadlineMs, 100),
  /** Most schema compiles (API) or answer checks (workers) waiting for their thread at once (more: 503). */
  SWITCHYARD_SCHEMA_QUEUE_MAX: int(DEFAULT_BOUNDS.schemaQueueMax, 1),
  /** Most characters of compiled schema code (and schema text) each schema thread keeps cached. */
  SWITCHYARD_SCHEMA_CACHE_BYTES: int(DEFAULT_BOUNDS.schemaCacheBytes, 65_536),
  /** Heap limit of each schema thread, MB (a compile past it fails, naming this setting). */
  SWITCHYARD_SCHEMA_THREAD_MB: int(DEFAULT_BOUNDS.schemaThreadMb, 16, 16_384),
  /** Largest structured answer checked against its schema, in characters of JSON (a larger one is sent back). */
  SWITCHYARD_MAX_VALIDATED_CHARS: int(DEFAULT_BOUNDS.maxValidatedChars, 1000),
  /** Longest `when`/`until` expression, in characters (more: 422). */
  SWITCHYARD_MAX_EXPRESSION_CHARS: int(DEFAULT_BOUNDS.maxExpressionChars, 16),
  /** Deepest nesting of a `when`/`until` expression (more: 422). */
  SWITCHYARD_MAX_EXPRESSION_DEPTH: int(DEFAULT_BOUNDS.maxExpressionDepth, 2, MAX_EXPRESSION_DEPTH_SETTING),
  /** Most index entries a filtered GET /v1/runs reads; then it answers with what it found and a cursor. */
  SWITCHYARD_MAX_LIST_SCAN: int(DEFAULT_BOUNDS.maxListScan, 10),
  /** Highest `maxItems` a forEach of a request's workflow may set (more: 422); 1000 at most. */
  SWITCHYARD_MAX_FOREACH_ITEMS: int(DEFAULT_BOUNDS.maxForEachItems, 1, 1000),
  /** Highest `maxIterations` a loop of a request's workflow may set (more: 422); 20 at most. */
  SWITCHYARD_MAX_LOOP_ITERATIONS: int(DEFAULT_BOUNDS.maxLoopIterations, 1, 20),
  /** Most UTF-8 bytes of one string (value or key) in a request body (more: 422 naming where). */
  SWITCHYARD_MAX_FIELD_BYTES: int(DEFAULT_BOUNDS.maxFieldBytes, 64),
  /** How long a graceful shutdown waits for in-flight steps before giving up, in ms. */
  SWITCHYARD_SHUTDOWN_TIMEOUT_MS: ms(30_000, 0),
  /** How long start-up waits for Redis to answer before it gives up (exit 69), in ms. */
  SWITCHYARD_REDIS_WAIT_MS: ms(30_000, 0),
  /**
   * A step's job lock lasts this long and is renewed at half of it: a worker lost (killed,
   * frozen) gives its steps up once it expires, in ms. With the stalled interval, at most their
   * sum passes between a worker lost and its steps handed to another (default 20 s + 10 s).
   */
  SWITCHYARD_LOCK_DURATION_MS: ms(DEFAULT_STALLED.lockDuration, 1_000),
  /** How often workers look for jobs whose lock expired (their worker lost), in ms. */
  SWITCHYARD_STALLED_INTERVAL_MS: ms(DEFAULT_STALLED.stalledInterval, 100),
  /** How often a worker process says it is alive; one silent for three beats is lost, in ms. */
  SWITCHYARD_HEARTBEAT_MS: ms(5_000, 100),
  /** The agent that summarises a session's older messages (default: the session's own agent). */
  SWITCHYARD_SESSION_SUMMARIZER: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be an agent name')
      .optional(),
  ),
  /**
   * The longest a provider's 429 or overload pauses a model (and its agents' queues), in ms;
   * then one probe call decides whether the pause goes on. A 429 whose Retry-After is longer
   * is a spent quota, not a rate limit: the call goes to a fallback or its step fails
   * (`quota_exhausted`). Default 5 minutes.
   */
  SWITCHYARD_MAX_PAUSE_MS: ms(300_000, 1000),
  /** When true, an agent whose provider has no API key fails start-up instead of using echo. */
  SWITCHYARD_REQUIRE_KEYS: bool(false),
  /**
   * The key (32 bytes, base64) that encrypts the provider keys given with agents created over
   * the API (AES-256-GCM). Without it such an agent cannot bring an `apiKey`.
   */
  SWITCHYARD_SECRETS_KEY: z.preprocess(emptyToUndefined, secretKey.optional()),
  /** Earlier SECRETS_KEYs, comma-separated: values sealed under them still open until re-encrypted (`npm run secrets -- reencrypt`). */
  SWITCHYARD_SECRETS_OLD_KEYS: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((k) => k.trim())
          .filter(Boolean),
      )
      .pipe(z.array(secretKey))
      .default([]),
  ),
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl,
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl,
  /** Keep prompts, inputs and outputs out of the logs (each such field is logged as "[redacted]"). */
  SWITCHYARD_LOG_REDACT_CONTENT: bool(false),
  /** pino level: fatal, error, warn, info, debug, trace, silent. */
  LOG_LEVEL: z.preprocess(emptyToUndefined, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  /** `json` (one JSON object per line, for machines) or `pretty` (coloured, one readable line each, for people). */
  LOG_FORMAT: z.preprocess(emptyToUndefined, z.enum(['json', 'pretty']).default('json')),
  ...API_ENV,
  ...WORKSPACE_ENV,
  ...CELLS_ENV,
  ...EGRESS_ENV,
});
export type Env = z.infer<typeof EnvSchema>;

export interface Config extends ApiConfig {
  redisUrl: string;
  mongodbUri: string | undefined;
  port: number;
  metricsPort: number | undefined;
  agentsFile: string;
  flowsDir: string;
  prefix: string;
  /** Where Redis is (one server, or a cluster's nodes) and how workspaces are spread over cells. */
  cells: CellsConfig;
  retentionSeconds: number;
  keepCompletedJobs: number;
  bodyLimit: string;
  bounds: Bounds;
  /** Most bytes a step keeps of its last provider call and of its tool calls (0: none). @default 32768 */
  maxDebugBytes: number;
  shutdownTimeoutMs: number;
  redisWaitMs: number;
  /** See SWITCHYARD_MAX_PAUSE_MS. */
  maxPauseMs: number;
  requireKeys: boolean;
  /** BullMQ's lock and stalled-check timing of every worker, ms. */
  stalled: { lockDuration: number; stalledInterval: number };
  heartbeatMs: number;
  /** See SWITCHYARD_SESSION_SUMMARIZER. */
  sessionSummarizer: string | undefined;
  logLevel: Env['LOG_LEVEL'];
  /** The keys that seal agents' provider keys: the current one (new values) and older ones (still opened). */
  secrets: { key: string | undefined; oldKeys: string[] };
  /** Prompts, inputs and outputs are redacted from logs (SWITCHYARD_LOG_REDACT_CONTENT). */
  logRedactContent: boolean;
  /** How log lines are written (LOG_FORMAT). */
  logFormat: Env['LOG_FORMAT'];
  /** Where outbound HTTP calls may go (SWITCHYARD_EGRESS_ALLOW in production). */
  egress: EgressConfig;
  /** Every workspace's default caps (SWITCHYARD_WORKSPACE_MAX_RUNNING_*; null: unlimited). */
  workspaceCaps: WorkspaceCaps;
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
    throw new ConfigError(`invalid environment: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  const e = parsed.data;
  const cells = cellsConfigOf(e);
  if (typeof cells === 'string') throw new ConfigError(`invalid environment: ${cells}`, [{ path: cells.split(':')[0]!, message: cells }]);
  if (cells.clusterNodes && !/^\{[^{}]+\}$/.test(e.SWITCHYARD_PREFIX)) {
    const message = `SWITCHYARD_PREFIX: must be a {hash tag} with REDIS_CLUSTER_NODES (each cell's keys in one slot), e.g. {sy}`;
    throw new ConfigError(`invalid environment: ${message}`, [{ path: 'SWITCHYARD_PREFIX', message }]);
  }
  return {
    cells,
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
    maxDebugBytes: e.SWITCHYARD_MAX_DEBUG_BYTES,
    bounds: {
      maxSteps: e.SWITCHYARD_MAX_STEPS,
      maxJsonDepth: e.SWITCHYARD_MAX_JSON_DEPTH,
      maxEventStreams: e.SWITCHYARD_MAX_EVENT_STREAMS,
      maxWaitSeconds: e.SWITCHYARD_MAX_WAIT_SECONDS,
      maxRenderedBytes: e.SWITCHYARD_MAX_RENDERED_BYTES,
      maxOutputBytes: e.SWITCHYARD_MAX_OUTPUT_BYTES,
      maxOrchestratorTurns: e.SWITCHYARD_MAX_ORCHESTRATOR_TURNS,
      maxDelegations: e.SWITCHYARD_MAX_DELEGATIONS,
      maxDelegationDepth: e.SWITCHYARD_MAX_DELEGATION_DEPTH,
      maxSchemaChars: e.SWITCHYARD_MAX_SCHEMA_CHARS,
      maxSchemaKeywords: e.SWITCHYARD_MAX_SCHEMA_KEYWORDS,
      maxSchemaBranches: e.SWITCHYARD_MAX_SCHEMA_BRANCHES,
      schemaTimeoutMs: e.SWITCHYARD_SCHEMA_TIMEOUT_MS,
      schemaDeadlineMs: e.SWITCHYARD_SCHEMA_DEADLINE_MS,
      schemaQueueMax: e.SWITCHYARD_SCHEMA_QUEUE_MAX,
      schemaCacheBytes: e.SWITCHYARD_SCHEMA_CACHE_BYTES,
      schemaThreadMb: e.SWITCHYARD_SCHEMA_THREAD_MB,
      maxValidatedChars: e.SWITCHYARD_MAX_VALIDATED_CHARS,
      maxExpressionChars: e.SWITCHYARD_MAX_EXPRESSION_CHARS,
      maxExpressionDepth: e.SWITCHYARD_MAX_EXPRESSION_DEPTH,
      maxListScan: e.SWITCHYARD_MAX_LIST_SCAN,
      maxForEachItems: e.SWITCHYARD_MAX_FOREACH_ITEMS,
      maxLoopIterations: e.SWITCHYARD_MAX_LOOP_ITERATIONS,
      maxFieldBytes: e.SWITCHYARD_MAX_FIELD_BYTES,
      transcriptPartChars: e.SWITCHYARD_TRANSCRIPT_PART_CHARS,
    },
    shutdownTimeoutMs: e.SWITCHYARD_SHUTDOWN_TIMEOUT_MS,
    redisWaitMs: e.SWITCHYARD_REDIS_WAIT_MS,
    maxPauseMs: e.SWITCHYARD_MAX_PAUSE_MS,
    requireKeys: e.SWITCHYARD_REQUIRE_KEYS,
    stalled: { lockDuration: e.SWITCHYARD_LOCK_DURATION_MS, stalledInterval: e.SWITCHYARD_STALLED_INTERVAL_MS },
    heartbeatMs: e.SWITCHYARD_HEARTBEAT_MS,
    sessionSummarizer: e.SWITCHYARD_SESSION_SUMMARIZER,
    logLevel: e.LOG_LEVEL,
    secrets: { key: e.SWITCHYARD_SECRETS_KEY?.trim(), oldKeys: e.SWITCHYARD_SECRETS_OLD_KEYS.map((k) => k.trim()) },
    ...apiConfigOf(e),
    logRedactContent: e.SWITCHYARD_LOG_REDACT_CONTENT,
    logFormat: e.LOG_FORMAT,
    workspaceCaps: workspaceCapsOf(e),
    egress: egressConfigOf(e),
    providers: {
      anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseURL: e.ANTHROPIC_BASE_URL },
      openai: { apiKey: e.OPENAI_API_KEY, baseURL: e.OPENAI_BASE_URL },
    },
  };
}
