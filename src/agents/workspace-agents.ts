/**
 * A workspace's own agents, created over the API beside the shared ones of the agents file:
 * checked by the agents file's own schema (AgentSpec), their provider key sealed at rest
 * (keyring.ts), stored under the workspace's scope (src/store/agent-records.ts), and resolved
 * for a step, a submission or a test call as the shared ones are (registry.ts).
 *
 * Names: a workspace agent may not take a shared agent's name (409). Should the agents file
 * later gain a name a workspace already uses, that workspace's own agent keeps it there: a
 * workspace sees its own agents first, then the shared ones (AgentRegistry.withOwn).
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError, toError, type Issue } from '../errors/index.js';
import { schemaProblem } from '../lang/json-schema.js';
import { AgentName, AgentSpec, type ResolvedAgent } from '../model/agent.js';
import { toolRefProblem } from '../model/tool.js';
import type { AgentIndexEntry, AgentRecord, AgentRecords } from '../store/agent-records.js';
import type { Cell, Scope } from '../store/scope.js';
import { scopeOf } from '../store/scope.js';
import { VENDORS } from '../calls/vendors/index.js';
import type { Provider } from '../calls/provider.js';
import { MeteredProvider, UsageMeter } from '../calls/usage-meter.js';
import type { Usage } from '../model/run.js';
import { Keyring, SealedValueError, noneResealed, type ResealCounts } from './keyring.js';
import { publicAgent, resolveOwnAgent, type AgentRegistry, type ProviderDefaults, type PublicAgent } from './registry.js';

/** An agent as GET /v1/agents shows it: where it comes from, and whether a key of its own is set (never the key). */
export type AgentView = PublicAgent & {
  source: 'shared' | 'workspace';
  apiKey?: 'set';
  version?: number;
  createdAt?: string;
  updatedAt?: string;
};

/** What POST /v1/agents/:name/test answers. */
export interface AgentTestResult {
  agent: string;
  source: 'shared' | 'workspace';
  provider: string;
  /** The model that answered (a fallback's when one did). */
  model: string;
  text: string;
  latencyMs: number;
  /** Tokens and, for a priced model, cost in USD (null when nothing was counted). */
  usage: Usage | null;
  /** Why the agent runs on echo instead of its provider, if it does. */
  fallbackReason?: string;
}

/** A test call the provider did not answer (a 502 over HTTP). */
export class AgentTestError extends Error {
  constructor(
    message: string,
    readonly latencyMs: number,
  ) {
    super(message);
  }
}

export interface WorkspaceAgentsDeps {
  records: AgentRecords;
  /** The shared agents (the agents file). */
  shared: AgentRegistry;
  keyring: Keyring;
  /** The deployment's provider keys and base URLs (an agent without a key of its own uses them). */
  config: ProviderDefaults;
  /** The provider an agent is called through for a test (the call pipeline's; the API's side only). */
  providerFor?: (agent: ResolvedAgent) => Provider;
}

/** Where a record's sealed key belongs: a sealed key moved to another agent or workspace does not open. */
const sealContext = (scope: Scope, name: string) => `${scope.workspace}/${name}`;

const issue = (path: string, message: string): Issue => ({ path, message });

export class WorkspaceAgents {
  /** Resolved agents by `<workspace>/<name>`, at the version they were resolved at. */
  private readonly resolved = new Map<string, ResolvedAgent>();

  constructor(private readonly deps: WorkspaceAgentsDeps) {}

  get shared(): AgentRegistry {
    return this.deps.shared;
  }

  /** The shared agents and the workspace's own, as shown (no key, no key variable). */
  async list(scope: Scope, opts: { prompts?: boolean } = {}): Promise<AgentView[]> {
    const own = await this.deps.records.list(scope);
    const ownNames = new Set(own.map((r) => r.name));
    const shared = this.deps.shared
      .list()
      .filter((a) => !ownNames.has(a.name))
      .map((a): AgentView => ({ ...publicAgent(a, opts), source: 'shared' }));
    return [...shared, ...own.map((r) => this.view(scope, r, opts))];
  }

  /** One agent as shown: the workspace's own, else a shared one; NotFoundError otherwise. */
  async describe(scope: Scope, name: string, opts: { prompts?: boolean } = {}): Promise<AgentView> {
    const record = await this.deps.records.get(scope, name);
    if (record) return this.view(scope, record, opts);
    const shared = this.deps.shared.get(name);
    if (shared) return { ...publicAgent(shared, opts), source: 'shared' };
    throw new NotFoundError(`no agent "${name}"`);
  }

  /** Every workspace agent of `cell` (which workspace, its version, how many steps at once). */
  index(cell: Cell): Promise<AgentIndexEntry[]> {
    return this.deps.records.index(cell);
  }

  /** Create a workspace agent from a request body `{name, apiKey?, ...spec}`. */
  async create(scope: Scope, body: Record<string, unknown>): Promise<AgentView> {
    const { name: rawName, apiKey, ...given } = body;
    const name = AgentName.safeParse(rawName);
    if (!name.success) throw new ValidationError(`name: ${name.error.issues[0]!.message}`, [issue('name', name.error.issues[0]!.message)]);
    if (this.deps.shared.get(name.data)) {
      throw new ConflictError(`"${name.data}" is a shared agent (agents file): a workspace agent may not take its name`);
    }
    const spec = await this.checkSpec(scope, name.data, given);
    const now = new Date().toISOString();
    const record: AgentRecord = { name: name.data, spec: given, version: 1, createdAt: now, updatedAt: now, ...this.sealed(scope, name.data, apiKey, spec) };
    if (!(await this.deps.records.create(scope, record, spec.concurrency))) throw new ConflictError(`agent "${name.data}" already exists in this workspace`);
    return this.view(scope, record, { prompts: true });
  }

  /**
   * Change a workspace agent: the fields given replace its own (`null` removes one, back to its
   * default); `apiKey` replaces its key, `apiKey: null` removes it. Takes effect for steps
   * started after the change.
   */
  async update(scope: Scope, name: string, body: Record<string, unknown>): Promise<AgentView> {
    const current = await this.deps.records.get(scope, name);
    if (!current) throw new NotFoundError(this.deps.shared.get(name) ? `"${name}" is a shared agent (agents file): it is changed there` : `no agent "${name}"`);
    if ('name' in body && body.name !== name)
      throw new ValidationError('name: an agent is not renamed (create another)', [issue('name', 'an agent is not renamed')]);
    const { name: _name, apiKey, ...changes } = body;
    const given: Record<string, unknown> = { ...current.spec };
    for (const [field, value] of Object.entries(changes)) {
      if (value === null) delete given[field];
      else given[field] = value;
    }
    const spec = await this.checkSpec(scope, name, given);
    const key =
      apiKey === undefined ? (current.sealedKey ? { sealedKey: current.sealedKey } : {}) : apiKey === null ? {} : this.sealed(scope, name, apiKey, spec);
    const record: AgentRecord = { name, spec: given, version: current.version + 1, createdAt: current.createdAt, updatedAt: new Date().toISOString(), ...key };
    if (!record.sealedKey) this.assertReachable(spec, undefined);
    if (!(await this.deps.records.replace(scope, record, spec.concurrency)))
      throw new ConflictError(`agent "${name}" was changed meanwhile: read it again and retry`);
    return this.view(scope, record, { prompts: true });
  }

  async remove(scope: Scope, name: string): Promise<void> {
    if (await this.deps.records.remove(scope, name)) return;
    throw new NotFoundError(this.deps.shared.get(name) ? `"${name}" is a shared agent (agents file): it is removed there` : `no agent "${name}"`);
  }

  /**
   * One real call of an agent `scope` sees (its own or a shared one) with `prompt`, through the
   * call pipeline (its limits and fallbacks): the answer, how long it took, its usage and cost.
   * A failed call throws AgentTestError, its message cleared of the agent's key.
   */
  async test(scope: Scope, name: string, prompt: string, signal?: AbortSignal): Promise<AgentTestResult> {
    const { providerFor } = this.deps;
    if (!providerFor) throw new Error('this side has no provider pipeline for agent tests');
    const registry = await this.registryFor(scope, name);
    const agent = registry.get(name);
    if (!agent) throw new NotFoundError(`no agent "${name}"`);
    const meter = new UsageMeter(registry.prices);
    const provider = new MeteredProvider(providerFor(agent), meter);
    const timeout = AbortSignal.timeout(agent.timeoutMs);
    const t0 = Date.now();
    try {
      const answer = await provider.complete({
        agent: agent.name,
        model: agent.model,
        ...(agent.systemPrompt ? { system: agent.systemPrompt } : {}),
        messages: [{ role: 'user', content: prompt }],
        ...(agent.temperature !== undefined ? { temperature: agent.temperature } : {}),
        maxTokens: agent.maxTokens,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        timeoutMs: agent.timeoutMs,
        callKey: `agent-test.${randomUUID()}`,
      });
      return {
        agent: agent.name,
        source: agent.owner ? 'workspace' : 'shared',
        provider: agent.provider,
        model: answer.model,
        text: answer.text,
        latencyMs: Date.now() - t0,
        usage: meter.take(),
        ...(agent.fallbackReason ? { fallbackReason: agent.fallbackReason } : {}),
      };
    } catch (raw) {
      const err = toError(raw);
      const secrets = [agent.apiKey, ...(agent.fallbacks ?? []).map((f) => f.apiKey)].filter((k): k is string => Boolean(k));
      const message = secrets.reduce((m, k) => m.split(k).join('[redacted]'), err.message);
      throw new AgentTestError(`agent "${name}" test call failed (${err.name}): ${message}`, Date.now() - t0);
    }
  }

  /**
   * The agents `scope` sees (its own first, then the shared ones), as read now: a change made
   * before this call is in it. One read of the workspace's hash; each agent is resolved (its
   * key opened) once per version. A use of one shared agent (`naming`: an agent task) reads
   * nothing: a workspace agent never takes a shared name, and a shared agent reaches only
   * shared ones.
   */
  async registryFor(scope: Scope, naming?: string): Promise<AgentRegistry> {
    if (naming !== undefined && this.deps.shared.isShared(naming)) return this.deps.shared;
    const own = await this.deps.records.list(scope);
    return this.deps.shared.withOwn(own.map((r) => this.resolve(scope, r)));
  }

  /** A workspace agent resolved (its key opened) at its record's version. */
  private resolve(scope: Scope, record: AgentRecord): ResolvedAgent {
    const id = sealContext(scope, record.name);
    const cached = this.resolved.get(id);
    if (cached?.owner?.version === record.version) return cached;
    const spec = AgentSpec.parse(record.spec);
    let apiKey: string | undefined;
    let unopened: string | undefined;
    try {
      apiKey = record.sealedKey ? this.deps.keyring.open(record.sealedKey, id) : undefined;
    } catch (err) {
      if (!(err instanceof SealedValueError)) throw err;
      unopened = err.message;
    }
    const owner = { workspace: scope.workspace, version: record.version };
    const agent: ResolvedAgent = unopened
      ? {
          ...spec,
          name: record.name,
          provider: 'echo',
          model: 'echo',
          configuredProvider: spec.provider,
          owner,
          fallbackReason: `its apiKey does not open: ${unopened}`,
        }
      : resolveOwnAgent(record.name, spec, { apiKey, owner }, this.deps.config);
    this.resolved.set(id, agent);
    return agent;
  }

  /**
   * Reseal every workspace agent's key of `cell` that is under an older key than the current
   * one (after SWITCHYARD_SECRETS_KEY changed, the old key listed in SWITCHYARD_SECRETS_OLD_KEYS).
   * Each record is swapped only if unchanged meanwhile (a changed one is counted in `skipped`:
   * run it again).
   */
  async reencrypt(cell: Cell): Promise<ResealCounts> {
    const { keyring, records } = this.deps;
    const out = noneResealed();
    const workspaces = new Set((await records.index(cell)).map((e) => e.workspace));
    for (const workspace of workspaces) {
      const scope = scopeOf(cell, workspace);
      for (const record of await records.list(scope)) {
        if (!record.sealedKey) continue;
        const concurrency = AgentSpec.parse(record.spec).concurrency;
        await keyring.reseal(out, record.sealedKey, sealContext(scope, record.name), (sealedKey) =>
          records.replace(scope, { ...record, sealedKey, version: record.version + 1 }, concurrency),
        );
      }
    }
    return out;
  }

  /** `given` checked as the agents file checks an agent, plus what a workspace agent may not do. */
  private async checkSpec(scope: Scope, name: string, given: Record<string, unknown>): Promise<AgentSpec> {
    const parsed = AgentSpec.safeParse(given);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => issue(i.path.map(String).join('.'), i.message.replace(/^Invalid input: /, '')));
      throw new ValidationError(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '), issues);
    }
    const spec = parsed.data;
    const problems: Issue[] = [];
    if (spec.apiKeyEnv) problems.push(issue('apiKeyEnv', 'names a variable of the server: a workspace agent brings its key as apiKey'));
    const schema = spec.output && schemaProblem(spec.output.schema);
    if (schema) problems.push(issue('output.schema', schema));
    if (spec.delegates.length) {
      const known = new Set((await this.registryFor(scope)).names());
      spec.delegates.forEach((d, i) => {
        if (d === name) problems.push(issue(`delegates.${i}`, 'an agent may not delegate to itself'));
        else if (!known.has(d)) problems.push(issue(`delegates.${i}`, `unknown agent "${d}"`));
      });
    }
    if (spec.tools.length) {
      // The tools agents may name are the agents file's (a workspace's registry shares its catalog).
      const catalog = this.deps.shared.toolCatalog;
      spec.tools.forEach((ref, i) => {
        const problem = toolRefProblem(ref, catalog);
        if (problem) problems.push(issue(`tools.${i}`, problem));
      });
    }
    if (problems.length) throw new ValidationError(problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems);
    return spec;
  }

  /** `apiKey` (when one is given) sealed for this agent; a 422 when it is not a string or no key can seal it. */
  private sealed(scope: Scope, name: string, apiKey: unknown, spec: AgentSpec): { sealedKey?: string } {
    if (apiKey === undefined || apiKey === null) {
      this.assertReachable(spec, undefined);
      return {};
    }
    if (typeof apiKey !== 'string' || apiKey.length === 0 || apiKey.length > 4096) {
      throw new ValidationError('apiKey: must be a non-empty string of at most 4096 characters', [
        issue('apiKey', 'must be a non-empty string (at most 4096 characters)'),
      ]);
    }
    if (spec.provider === 'echo') throw new ValidationError('apiKey: the echo provider takes no key', [issue('apiKey', 'the echo provider takes no key')]);
    return { sealedKey: this.deps.keyring.seal(apiKey, sealContext(scope, name)) };
  }

  /** A remote agent without a key of its own: the deployment's key must reach it (never sent to a base URL of its own). */
  private assertReachable(spec: AgentSpec, apiKey: string | undefined): void {
    const remote = VENDORS[spec.provider].remote;
    if (!remote || apiKey) return;
    if (spec.baseURL) {
      if (remote.keylessWithBaseUrl) return;
      const message = `required with a baseURL of the agent's own (the server's ${remote.keyEnv} is never sent to it)`;
      throw new ValidationError(`apiKey: ${message}`, [issue('apiKey', message)]);
    }
    const defaults = (this.deps.config.providers as Partial<Record<string, { apiKey?: string | undefined }>>)[spec.provider];
    if (!defaults?.apiKey) {
      const message = `required: the server has no ${remote.keyEnv} for provider ${spec.provider}`;
      throw new ValidationError(`apiKey: ${message}`, [issue('apiKey', message)]);
    }
  }

  private view(scope: Scope, record: AgentRecord, opts: { prompts?: boolean }): AgentView {
    const agent = this.resolve(scope, record);
    return {
      ...publicAgent(agent, opts),
      source: 'workspace',
      ...(record.sealedKey ? { apiKey: 'set' as const } : {}),
      version: record.version,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
    };
  }
}
