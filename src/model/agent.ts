/**
 * An agent type: a named specialist with a provider, a model, a prompt and its own limits.
 * Each agent type gets its own BullMQ queue and worker pool.
 */
import { z } from 'zod';
import { OutputSpec } from './output.js';
import { ModelPrice } from './price.js';
import { ProviderLimits } from './provider-limits.js';
import { catalogClashes, HttpToolSpec, McpServerSpec, ServerName, toolRefProblem, ToolName, ToolRef } from './tool.js';

export const ProviderName = z.enum(['anthropic', 'openai', 'echo']);
export type ProviderName = z.infer<typeof ProviderName>;

export const Capability = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    /** Typical duration of one call, for planning. */
    estimatedSeconds: z.number().nonnegative().optional(),
    /** Typical cost of one call in USD, for planning. */
    estimatedCostUsd: z.number().nonnegative().optional(),
  })
  .strict();
export type Capability = z.infer<typeof Capability>;

export const BackoffSpec = z
  .object({
    /** fixed: always `delayMs`; exponential: `delayMs * 2^(attempt-1)`. Default exponential. */
    type: z.enum(['fixed', 'exponential']).default('exponential'),
    /** Base delay between attempts in ms. Default 1000. */
    delayMs: z.number().int().nonnegative().default(1000),
    /** Random shortening of each delay, 0..1: the delay is drawn from [delay × (1 − jitter), delay]. Default 0. */
    jitter: z.number().min(0).max(1).default(0),
  })
  .strict();
export type BackoffSpec = z.infer<typeof BackoffSpec>;

/** An agent's response cache (`cache:`). */
export const ResponseCacheSpec = z
  .object({
    /** How long an answer is reused, in seconds (at most a week). */
    ttlSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600),
    /** Cache answers of requests at a temperature above 0 too (their answers vary: the first is reused). Default false. */
    force: z.boolean().default(false),
  })
  .strict();
export type ResponseCacheSpec = z.infer<typeof ResponseCacheSpec>;

/** Agent type names become queue names and job-id parts: no dots, colons or spaces. */
export const AgentName = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be lowercase letters, digits, "_" or "-", starting with a letter');

/** The bounds of an orchestrator (an agent with `delegates`); each has a clear outcome when hit. */
const ORCHESTRATION_FIELDS = {
  /** Most model calls of one orchestrator step; the last one is made without tools, so it answers. Default 8. */
  maxTurns: z.number().int().min(2).max(100),
  /** Most delegations of one orchestrator step; calls beyond it get a tool error. Default 16. */
  maxDelegations: z.number().int().min(1).max(1000),
  /** Most levels of delegation below the first orchestrator (a delegate may itself delegate). Default 2. */
  maxDepth: z.number().int().min(1).max(10),
  /** A failed delegate: back to the model as a tool error (default), or fail the step (and its run, unless optional). */
  onDelegateFailure: z.enum(['tool_error', 'fail']),
  /** Offer the `read_runs` tool (recent runs and outputs of this workspace). Default true. */
  readRuns: z.boolean(),
};
export type Orchestration = { [K in keyof typeof ORCHESTRATION_FIELDS]: z.infer<(typeof ORCHESTRATION_FIELDS)[K]> };
export const DEFAULT_ORCHESTRATION: Orchestration = { maxTurns: 8, maxDelegations: 16, maxDepth: 2, onDelegateFailure: 'tool_error', readRuns: true };
/** What an agent (agents.yaml) or a workflow step may set; the rest comes from the defaults. */
export const OrchestrationOptions = z.object(ORCHESTRATION_FIELDS).partial().strict();
export type OrchestrationOptions = z.infer<typeof OrchestrationOptions>;

export const AgentSpec = z
  .object({
    description: z.string().default(''),
    provider: ProviderName,
    /** Model name as the provider knows it. Default: "echo" for echo. */
    model: z.string().min(1).optional(),
    systemPrompt: z.string().default(''),
    temperature: z.number().min(0).max(2).optional(),
    /** Most tokens one answer may use. Default 1024. */
    maxTokens: z.number().int().positive().default(1024),
    /** Steps of this agent one worker process runs at once. Default 4. */
    concurrency: z.number().int().positive().default(4),
    /** At most `max` calls per `durationMs` for this agent's queue, across all processes. */
    rateLimit: z.object({ max: z.number().int().positive(), durationMs: z.number().int().positive() }).strict().optional(),
    /** Tries per step, the first included. Default 3. */
    attempts: z.number().int().min(1).max(100).default(3),
    backoff: BackoffSpec.default({ type: 'exponential', delayMs: 1000, jitter: 0 }),
    /** A call running longer is aborted and counts as a retryable failure. Default 120000. */
    timeoutMs: z.number().int().positive().default(120_000),
    /**
     * Stream answers from the provider. A streaming step reports `step.progress` events (and
     * BullMQ job progress) while its answer arrives. Default false.
     */
    stream: z.boolean().default(false),
    /** A streaming step reports progress at most once per this many ms. Default 1000. */
    progressIntervalMs: z.number().int().min(50).default(1000),
    capabilities: z.array(Capability).default([]),
    /**
     * Agents this one may delegate to: with any, it is an orchestrator wherever it runs. The
     * model gets a `delegate(agent, task, context?)` tool; each call runs as a child step on
     * that agent's pool, and the results come back as tool results.
     */
    delegates: z.array(AgentName).default([]),
    /**
     * Tools the model may call (src/model/tool.ts ToolRef): HTTP tools of the agents file's
     * `tools`, built-ins (`emit_output`, `publish_context`, `read_runs`), MCP servers of
     * `mcpServers` (all their tools) or `<server>/<tool>`.
     */
    tools: z.array(ToolRef).default([]),
    /** Weight of this agent's answers in a vote (seed 003's authority weights). Default 1. */
    authority: z.number().positive().max(100).default(1),
    /** Structured answers: the model answers with a JSON object that fits `output.schema` (validated). */
    output: OutputSpec.optional(),
    orchestration: OrchestrationOptions.default({}),
    /** Options of the offline echo provider (also used when a keyless agent falls back to echo). */
    echo: z
      .object({ latencyMs: z.number().int().nonnegative().default(0) })
      .strict()
      .default({ latencyMs: 0 }),
    /** Base URL of the provider's API (any OpenAI-compatible server for `openai`). */
    baseURL: z.url().optional(),
    /** Name of the environment variable holding this agent's API key (default per provider). */
    apiKeyEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional(),
    /**
     * Models to answer instead, in order, while the primary cannot: its circuit is open, it is
     * paused after a 429 or an overload, or its limits would make the step wait longer than
     * `fallbackAfterMs`. Each uses its provider's key and base URL from the environment.
     */
    fallback: z
      .array(z.object({ provider: ProviderName, model: z.string().min(1) }).strict())
      .max(5)
      .default([]),
    /**
     * How an OpenAI model is asked for a structured answer: `json_schema` (response_format),
     * `json_mode` (response_format json_object, the schema in the instructions), `tool` (a
     * forced function call), or `auto` (the default): on OpenAI's own API by model (json_schema,
     * JSON mode on the models that predate it, a forced function on those that predate JSON
     * mode), on any other server (OPENAI_BASE_URL) a forced function, which they widely support.
     */
    structured: z.enum(['auto', 'json_schema', 'json_mode', 'tool']).default('auto'),
    /** A wait for the primary's capacity longer than this goes to the fallback instead. Default 0 (any wait). */
    fallbackAfterMs: z.number().int().nonnegative().default(0),
    /**
     * The response cache: the same request (provider, model, system prompt, messages, tools,
     * parameters) within `ttlSeconds` is answered from Redis, per workspace, without a provider
     * call. Only for a request at temperature 0 (unset is the provider's default, 1), unless `force`.
     */
    cache: ResponseCacheSpec.optional(),
    /**
     * Anthropic prompt caching of the stable prefix (system prompt and tools): `on` marks it
     * with `cache_control`, `auto` (the default) when it is at least the model's minimum
     * (about 1024 tokens), `off` never. OpenAI caches long prompts by itself.
     */
    promptCache: z.enum(['auto', 'on', 'off']).default('auto'),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.provider !== 'echo' && !a.model) ctx.addIssue({ code: 'custom', path: ['model'], message: `required for provider ${a.provider}` });
  });
export type AgentSpec = z.infer<typeof AgentSpec>;

export const AgentsFile = z
  .object({
    agents: z.record(AgentName, AgentSpec),
    /** Prices by model name prefix (USD per million tokens), over the shipped defaults. */
    pricing: z.record(z.string().min(1), ModelPrice).default({}),
    /** Limits per provider (and per model, per API key), shared by every queue and process; circuit breakers. */
    providers: z.partialRecord(ProviderName, ProviderLimits).default({}),
    /** HTTP tools, given to agents by name (`tools:` of an agent). */
    tools: z.record(ToolName, HttpToolSpec).default({}),
    /** MCP servers whose tools agents may be given. */
    mcpServers: z.record(ServerName, McpServerSpec).default({}),
  })
  .strict()
  .superRefine((file, ctx) => {
    const names = Object.keys(file.agents);
    for (const [name, spec] of Object.entries(file.agents)) {
      spec.delegates.forEach((d, i) => {
        const path = ['agents', name, 'delegates', i];
        if (d === name) ctx.addIssue({ code: 'custom', path, message: 'an agent may not delegate to itself' });
        else if (!names.includes(d)) ctx.addIssue({ code: 'custom', path, message: `unknown agent "${d}"; known agents: ${names.sort().join(', ')}` });
      });
      const seen = new Set<string>();
      spec.tools.forEach((ref, i) => {
        const path = ['agents', name, 'tools', i];
        const problem = toolRefProblem(ref, file);
        if (problem) ctx.addIssue({ code: 'custom', path, message: problem });
        else if (seen.has(ref)) ctx.addIssue({ code: 'custom', path, message: `"${ref}" is listed twice` });
        seen.add(ref);
      });
    }
    for (const clash of catalogClashes(file)) ctx.addIssue({ code: 'custom', ...clash });
  });
export type AgentsFile = z.infer<typeof AgentsFile>;

/** An agent as the running system uses it: spec plus the provider actually in effect. */
export interface ResolvedAgent extends AgentSpec {
  name: string;
  model: string;
  /** The provider configured in the agents file. */
  configuredProvider: ProviderName;
  /** Why the agent runs on echo instead of its configured provider, if it does. */
  fallbackReason?: string;
  /** API key for the provider, when it needs one (never logged or returned). */
  apiKey?: string;
  /** The fallbacks that can be used (those whose provider has a key); the others are named in `fallbackSkipped`. */
  fallbacks?: ResolvedFallback[];
  fallbackSkipped?: string[];
  /** A workspace's own agent (created over the API): whose, and which version; none for the agents file's. */
  owner?: AgentOwner;
}

/** The workspace an agent created over the API belongs to, and the version of it resolved (each change adds one). */
export interface AgentOwner {
  workspace: string;
  version: number;
}

export interface ResolvedFallback {
  provider: ProviderName;
  model: string;
  apiKey?: string;
  baseURL?: string;
}
