/**
 * The agents file (agents.yaml) parsed, validated and resolved against the configuration:
 * each agent gets its API key and base URL, or falls back to echo when its key is missing
 * (unless SWITCHYARD_REQUIRE_KEYS is set, which makes a missing key fatal).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import type { Config } from '../config/env.js';
import { ConfigError, ValidationError, type Issue } from '../errors/index.js';
import { AgentsFile, type AgentOwner, type AgentSpec, type ProviderName, type ResolvedAgent, type ResolvedFallback } from '../model/agent.js';
import { LimitPlan } from '../calls/admission/limiter.js';
import type { ProviderLimits } from '../model/provider-limits.js';
import { PriceTable } from '../calls/pricing.js';
import { VENDORS, type Vendor } from '../calls/vendors/index.js';
import type { ModelPrice } from '../model/price.js';
import { EMPTY_TOOL_CATALOG, type McpServerSpec, type ToolCatalog } from '../model/tool.js';
import { schemaProblem } from '../lang/json-schema.js';

type Env = Record<string, string | undefined>;
/** The deployment's provider keys and base URLs (ANTHROPIC_API_KEY, OPENAI_BASE_URL...). */
export type ProviderDefaults = Pick<Config, 'providers'>;

/**
 * An agent as it may be shown outside the process: no key, nor the variable it is read from,
 * its base URL as a host and path only (credentials or a key in the URL left out), and its
 * system prompt only when asked for.
 */
export type PublicAgent = Omit<ResolvedAgent, 'apiKey' | 'apiKeyEnv' | 'systemPrompt' | 'owner'> & { systemPrompt?: string };

export class AgentRegistry {
  private readonly agents: ReadonlyMap<string, ResolvedAgent>;
  /** What tokens cost, by model (the agents file's `pricing` over the defaults). */
  readonly prices: PriceTable;
  /** The limits of each provider (the agents file's `providers`). */
  readonly limits: LimitPlan;
  /** The HTTP tools and MCP servers of the agents file, which agents' `tools:` name. */
  readonly toolCatalog: ToolCatalog;

  /** The agents file's MCP servers (the process's McpPool starts them: src/tools/mcp). */
  get mcpServers(): Readonly<Record<string, McpServerSpec>> {
    return this.toolCatalog.mcpServers;
  }

  constructor(
    agents: Iterable<ResolvedAgent>,
    pricing: Readonly<Record<string, ModelPrice>> | PriceTable = {},
    providers: Readonly<Partial<Record<ProviderName, ProviderLimits>>> | LimitPlan = {},
    toolCatalog: ToolCatalog = EMPTY_TOOL_CATALOG,
  ) {
    this.toolCatalog = toolCatalog;
    this.agents = new Map([...agents].map((a) => [a.name, a]));
    this.prices = pricing instanceof PriceTable ? pricing : new PriceTable(pricing);
    this.limits = providers instanceof LimitPlan ? providers : new LimitPlan(providers);
  }

  /**
   * The agents one workspace sees: its own (`own`, created over the API) first, then these
   * (the shared ones of the agents file), with the same prices and provider limits.
   */
  withOwn(own: readonly ResolvedAgent[]): AgentRegistry {
    if (own.length === 0) return this;
    const names = new Set(own.map((a) => a.name));
    return new AgentRegistry([...own, ...this.list().filter((a) => !names.has(a.name))], this.prices, this.limits, this.toolCatalog);
  }

  /** Is `name` one of this registry's agents of the agents file (not a workspace's own)? */
  isShared(name: string): boolean {
    const agent = this.agents.get(name);
    return agent !== undefined && agent.owner === undefined;
  }

  get(name: string): ResolvedAgent | undefined {
    return this.agents.get(name);
  }

  /** The weight of an agent's answers in a vote and of its writes to a run's context (1 for an unknown one). */
  authorityOf(name: string): number {
    return this.agents.get(name)?.authority ?? 1;
  }

  /** The agent, or a ValidationError that lists the known agents. */
  require(name: string): ResolvedAgent {
    const agent = this.agents.get(name);
    if (agent) return agent;
    const message = `unknown agent "${name}" (known agents: ${this.names().join(', ') || 'none'})`;
    throw new ValidationError(message, [{ path: 'agent', message }]);
  }

  names(): string[] {
    return [...this.agents.keys()];
  }

  list(): ResolvedAgent[] {
    return [...this.agents.values()];
  }

  /** Agents safe to log or return over HTTP (see PublicAgent); `prompts` adds their system prompts. */
  toPublic(opts: { prompts?: boolean } = {}): PublicAgent[] {
    return this.list().map((a) => publicAgent(a, opts));
  }
}

/** One agent as it may be shown (see PublicAgent). */
export function publicAgent(agent: ResolvedAgent, opts: { prompts?: boolean } = {}): PublicAgent {
  const { apiKey: _secret, apiKeyEnv: _env, systemPrompt, baseURL, fallbacks, owner: _owner, ...rest } = agent;
  return {
    ...rest,
    ...(baseURL ? { baseURL: publicUrl(baseURL) } : {}),
    ...(opts.prompts ? { systemPrompt } : {}),
    ...(fallbacks ? { fallbacks: fallbacks.map((f) => ({ provider: f.provider, model: f.model })) } : {}),
  };
}

/** A URL's origin and path: no user or password, no query (a key may ride in either), no fragment. */
function publicUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** Read, validate and resolve an agents file. The only entry point that reads process.env. */
export function loadAgentsFile(path: string, config: Config, env: Env = process.env): AgentRegistry {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const message = `cannot read agents file: ${(err as Error).message}`;
    throw new ConfigError(`${path}: ${message}`, [{ path: '', message }]);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    const message = `invalid YAML: ${(err as Error).message}`;
    throw new ConfigError(`${path}: ${message}`, [{ path: '', message }]);
  }
  return resolveAgents(data, config, path, env);
}

/**
 * Validate parsed agents-file data and resolve each agent's provider. Pure: keys named by
 * `apiKeyEnv` are looked up in `env`, never in process.env.
 */
export function resolveAgents(file: unknown, config: Config, source: string, env: Env = {}): AgentRegistry {
  const parsed = AgentsFile.safeParse(file);
  if (!parsed.success) {
    const found = parsed.error.issues.map(fromZod);
    throw new ConfigError(
      `${source}: ${found.map((f) => f.text).join('; ')}`,
      found.map((f) => f.issue),
    );
  }
  // An agent's output schema is compiled as the file is read: a bad one stops start-up.
  const bad = Object.entries(parsed.data.agents).flatMap(([name, spec]) => {
    const problem = spec.output && schemaProblem(spec.output.schema);
    return problem
      ? [{ issue: { path: `agents.${name}.output.schema`, message: problem }, text: describe(['agents', name, 'output', 'schema'], problem) }]
      : [];
  });
  if (bad.length > 0)
    throw new ConfigError(
      `${source}: ${bad.map((b) => b.text).join('; ')}`,
      bad.map((b) => b.issue),
    );
  const agents: ResolvedAgent[] = [];
  const missing: { issue: Issue; text: string }[] = [];
  for (const [name, spec] of Object.entries(parsed.data.agents)) {
    const resolved = resolveAgent(name, spec, config, env);
    if ('missingKey' in resolved) {
      if (config.requireKeys) {
        const message = `${resolved.missingKey} (SWITCHYARD_REQUIRE_KEYS is on)`;
        missing.push({ issue: { path: `agents.${name}`, message }, text: describe(['agents', name], message) });
        continue;
      }
      agents.push(echoFallback(name, spec, resolved.missingKey));
    } else {
      agents.push(withFallbacks(resolved, config, env));
    }
  }
  if (missing.length > 0) {
    throw new ConfigError(
      `${source}: ${missing.map((m) => m.text).join('; ')}`,
      missing.map((m) => m.issue),
    );
  }
  return new AgentRegistry(agents, parsed.data.pricing, parsed.data.providers, { tools: parsed.data.tools, mcpServers: parsed.data.mcpServers });
}

/**
 * A workspace's own agent (created over the API) resolved: its provider key is the one it was
 * given (`apiKey`, opened from its sealed value), else the deployment's key for its provider,
 * which is never sent to a base URL of the agent's own. Without either, it runs on echo and
 * says why (`fallbackReason`). Its fallbacks use the deployment's keys, as the shared agents' do.
 */
export function resolveOwnAgent(
  name: string,
  spec: AgentSpec,
  own: { apiKey?: string | undefined; owner: AgentOwner },
  config: ProviderDefaults,
): ResolvedAgent {
  const base = { ...spec, name, model: spec.model ?? 'echo', configuredProvider: spec.provider, owner: own.owner };
  const remote = VENDORS[spec.provider].remote;
  if (!remote) return base;
  const defaults = envDefaults(config, spec.provider);
  const apiKey = own.apiKey ?? (spec.baseURL ? undefined : defaults?.apiKey);
  const baseURL = spec.baseURL ?? defaults?.baseURL;
  const keyless = remote.keylessWithBaseUrl === true && spec.baseURL !== undefined;
  if (!apiKey && !keyless) return { ...echoFallback(name, spec, `no apiKey given and ${remote.keyEnv} is not set`), owner: own.owner };
  return withFallbacks({ ...base, ...(apiKey ? { apiKey } : {}), ...(baseURL ? { baseURL } : {}) }, config, {});
}

function resolveAgent(name: string, spec: AgentSpec, config: Config, env: Env): ResolvedAgent | { missingKey: string } {
  const base = { ...spec, name, model: spec.model ?? 'echo', configuredProvider: spec.provider };
  const remote = VENDORS[spec.provider].remote;
  if (!remote) return base;
  const { apiKey, baseURL, keyVar, usable } = credentials(remote, envDefaults(config, spec.provider), env, spec);
  if (!usable) {
    return { missingKey: remote.keylessWithBaseUrl && !spec.apiKeyEnv ? `${keyVar} is not set and no baseURL is configured` : `${keyVar} is not set` };
  }
  return { ...base, ...(apiKey ? { apiKey } : {}), ...(baseURL ? { baseURL } : {}) };
}

type Reach = { apiKey?: string | undefined; baseURL?: string | undefined };

/** The key and base URL the environment gives `provider` (none for a vendor it names no variables for). */
function envDefaults(config: ProviderDefaults, provider: ProviderName): Reach | undefined {
  const known: Partial<Record<ProviderName, Reach>> = config.providers;
  return known[provider];
}

/**
 * The key and base URL a remote vendor is called with (the agent's own `apiKeyEnv` and
 * `baseURL` over the environment's `defaults`; an `openai` agent's own base URL never gets the
 * environment's key), the variable the key comes from, and whether it can be called: with a key, or, for a self-hosted OpenAI-compatible server (Ollama,
 * vLLM...), a base URL (one reached with a key variable of its own, Groq or OpenRouter, needs
 * that key).
 */
function credentials(remote: NonNullable<Vendor['remote']>, defaults: Reach | undefined, env: Env, own: Reach & { apiKeyEnv?: string | undefined } = {}) {
  const keyVar = own.apiKeyEnv ?? remote.keyEnv;
  // A keyless-capable vendor's deployment key goes only to the deployment's server, never to
  // a base URL of the agent's own (Ollama, Gemini...): that agent names its key, or has none.
  const ownServer = remote.keylessWithBaseUrl === true && own.baseURL !== undefined && own.baseURL !== defaults?.baseURL;
  const apiKey = own.apiKeyEnv ? env[own.apiKeyEnv] || undefined : ownServer ? undefined : defaults?.apiKey;
  const baseURL = own.baseURL ?? defaults?.baseURL;
  const keyless = remote.keylessWithBaseUrl === true && baseURL !== undefined && !own.apiKeyEnv;
  return { apiKey, baseURL, keyVar, usable: Boolean(apiKey) || keyless };
}

/** The agent's `fallback` models that can be called (a provider with a key, or echo). */
function withFallbacks(agent: ResolvedAgent, config: ProviderDefaults, env: Env): ResolvedAgent {
  if (agent.fallback.length === 0) return agent;
  const fallbacks: ResolvedFallback[] = [];
  const skipped: string[] = [];
  for (const f of agent.fallback) {
    const remote = VENDORS[f.provider].remote;
    if (!remote) {
      fallbacks.push({ provider: f.provider, model: f.model });
      continue;
    }
    const { apiKey, baseURL, keyVar, usable } = credentials(remote, envDefaults(config, f.provider), env);
    if (!usable) skipped.push(`${f.provider}/${f.model}: ${keyVar} is not set`);
    else fallbacks.push({ provider: f.provider, model: f.model, ...(apiKey ? { apiKey } : {}), ...(baseURL ? { baseURL } : {}) });
  }
  return { ...agent, fallbacks, ...(skipped.length ? { fallbackSkipped: skipped } : {}) };
}

function echoFallback(name: string, spec: AgentSpec, reason: string): ResolvedAgent {
  // Keep the agent's limits and prompt: only the backend changes, so flows still run offline.
  const { apiKeyEnv: _env, baseURL: _url, ...rest } = spec;
  return { ...rest, name, provider: 'echo', model: 'echo', configuredProvider: spec.provider, fallbackReason: reason };
}

/** One zod issue as an Issue plus the sentence shown to the user. */
function fromZod(i: z.core.$ZodIssue): { issue: Issue; text: string } {
  // A bad agent name is reported on the key itself; its reason is in the nested issues.
  const nested = i.code === 'invalid_key' ? i.issues.map((n) => n.message).join(', ') : '';
  const message = (nested ? `invalid agent name: ${nested}` : i.message).replace(/^Invalid input: /, '');
  const path = i.path.map(String);
  return { issue: { path: path.join('.'), message }, text: describe(path, message) };
}

/** `agent "research": rateLimit.max: expected number...` for an issue under one agent. */
function describe(path: string[], message: string): string {
  const [root, name, ...field] = path;
  if (root === 'agents' && name !== undefined) {
    return `agent "${name}": ${field.length ? `${field.join('.')}: ` : ''}${message}`;
  }
  return path.length ? `${path.join('.')}: ${message}` : message;
}
