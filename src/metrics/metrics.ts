/**
 * Prometheus metrics (prom-client), one registry per process, served at GET /metrics.
 *
 * - Counted where the work happens (the process that runs the steps): step durations per
 *   agent, kind and outcome; tokens and cost per agent and model; provider 429s; waits for
 *   the shared limiter; circuits opened. A process without the API serves them on
 *   SWITCHYARD_METRICS_PORT.
 * - Read from Redis at scrape time (the same in every process): jobs per queue and state, and
 *   per limiter scope whether its circuit is open, how long it is paused and whether its
 *   quota is spent.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Usage } from '../model/run.js';

export interface MetricsSources {
  /** Jobs per state of each queue. */
  queueCounts(): Promise<{ queue: string; counts: Record<string, number> }[]>;
  /** Per limiter scope in use: whether its circuit is open, ms left of its pause, and whether it is paused for a spent quota. */
  limiterState(): Promise<LimiterScopeState[]>;
}

export interface LimiterScopeState {
  scope: string;
  open: boolean;
  pausedMs: number;
  quotaExhausted: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly stepDuration: Histogram<'agent' | 'kind' | 'status'>;
  private readonly tokens: Counter<'agent' | 'model' | 'direction'>;
  private readonly cost: Counter<'agent' | 'model'>;
  private readonly rateLimited: Counter<'agent'>;
  private readonly capacityWaits: Counter<'agent' | 'limit'>;
  private readonly breakerOpened: Counter<'scope'>;
  private readonly cacheLookups: Counter<'agent' | 'result'>;
  private readonly cacheHitRatio: Gauge<'agent'>;
  private readonly cacheSaved: Counter<'agent'>;
  /** Response cache lookups of this process by agent: [hits, all]. */
  private readonly lookups = new Map<string, [number, number]>();
  private sources: MetricsSources | undefined;

  constructor() {
    const registers = [this.registry];
    this.stepDuration = new Histogram({
      name: 'switchyard_step_duration_seconds',
      help: 'Time a step attempt took in this process, by agent ("" for engine steps), kind and outcome',
      labelNames: ['agent', 'kind', 'status'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.tokens = new Counter({
      name: 'switchyard_tokens_total',
      help: 'Tokens of recorded answers, by agent, model and direction (input, output; and of the input, cache_read and cache_write: prompt-cache tokens)',
      labelNames: ['agent', 'model', 'direction'],
      registers,
    });
    this.cost = new Counter({
      name: 'switchyard_cost_usd_total',
      help: 'Cost of recorded answers in USD, by agent and model (priced models only)',
      labelNames: ['agent', 'model'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'switchyard_provider_rate_limited_total',
      help: 'Provider answers 429 or overloaded, by agent',
      labelNames: ['agent'],
      registers,
    });
    this.capacityWaits = new Counter({
      name: 'switchyard_limiter_waits_total',
      help: 'Provider calls the shared limiter did not admit (the step waited), by agent and limit',
      labelNames: ['agent', 'limit'],
      registers,
    });
    this.breakerOpened = new Counter({ name: 'switchyard_breaker_opened_total', help: 'Circuits opened, by limiter scope', labelNames: ['scope'], registers });
    this.cacheLookups = new Counter({
      name: 'switchyard_response_cache_lookups_total',
      help: 'Response cache lookups of agents with `cache`, by agent and result (hit, miss)',
      labelNames: ['agent', 'result'],
      registers,
    });
    this.cacheHitRatio = new Gauge({
      name: 'switchyard_response_cache_hit_ratio',
      help: "Share of this process's response cache lookups answered from the cache, by agent (seed 002's cacheHitRate)",
      labelNames: ['agent'],
      registers,
    });
    this.cacheSaved = new Counter({
      name: 'switchyard_response_cache_saved_usd_total',
      help: 'What calls answered from the response cache cost when first answered, USD, by agent',
      labelNames: ['agent'],
      registers,
    });
    // prom-client calls collect() with the metric as `this`: the sources are read through an arrow.
    const queueCounts = async () => (await this.sources?.queueCounts().catch(() => [])) ?? [];
    new Gauge({
      name: 'switchyard_queue_jobs',
      help: 'Jobs per queue and state (read from Redis at scrape time)',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        // Redis unreachable: the gauges are left out of this scrape, the rest is served.
        for (const { queue, counts } of await queueCounts()) for (const [state, n] of Object.entries(counts)) this.set({ queue, state }, n);
      },
    });
    // Both limiter gauges are collected in one scrape: they share one read of Redis.
    let reading: Promise<LimiterScopeState[]> | undefined;
    const scopes = () =>
      (reading ??= (this.sources?.limiterState().catch(() => []) ?? Promise.resolve([])).finally(() => {
        reading = undefined;
      }));
    new Gauge({
      name: 'switchyard_breaker_open',
      help: 'Whether the circuit of a limiter scope is open (1) or not (0)',
      labelNames: ['scope'],
      registers,
      async collect() {
        this.reset();
        for (const s of await scopes()) this.set({ scope: s.scope }, s.open ? 1 : 0);
      },
    });
    new Gauge({
      name: 'switchyard_provider_paused_seconds',
      help: 'How long a limiter scope stays paused after a 429, an overload or a spent quota (0: not paused; at most SWITCHYARD_MAX_PAUSE_MS)',
      labelNames: ['scope'],
      registers,
      async collect() {
        this.reset();
        for (const s of await scopes()) this.set({ scope: s.scope }, s.pausedMs / 1000);
      },
    });
    new Gauge({
      name: 'switchyard_provider_quota_exhausted',
      help: 'Whether a limiter scope is paused because its quota is spent (1): its calls go to fallbacks or fail, until a probe call answers or an admin resumes it',
      labelNames: ['scope'],
      registers,
      async collect() {
        this.reset();
        for (const s of await scopes()) this.set({ scope: s.scope }, s.quotaExhausted ? 1 : 0);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' });
  }

  /** Where the scrape-time gauges read from (set once the system is built). */
  readFrom(sources: MetricsSources): void {
    this.sources = sources;
  }

  stepEnded(s: { agent: string | undefined; kind: string; status: string; durationMs: number }): void {
    this.stepDuration.observe({ agent: s.agent ?? '', kind: s.kind, status: s.status }, s.durationMs / 1000);
  }

  /** A provider call answered: its tokens and cost, by the agent that asked and the model that answered. */
  callAnswered(agentName: string | undefined, model: string, usage: Usage): void {
    const agent = agentName ?? '';
    this.tokens.inc({ agent, model, direction: 'input' }, usage.inputTokens);
    this.tokens.inc({ agent, model, direction: 'output' }, usage.outputTokens);
    if (usage.costUsd !== undefined) this.cost.inc({ agent, model }, usage.costUsd);
    if (usage.cacheReadTokens) this.tokens.inc({ agent, model, direction: 'cache_read' }, usage.cacheReadTokens);
    if (usage.cacheWriteTokens) this.tokens.inc({ agent, model, direction: 'cache_write' }, usage.cacheWriteTokens);
    if (usage.costSavedUsd) this.cacheSaved.inc({ agent }, usage.costSavedUsd);
  }

  /** A response cache lookup of `agent`: answered from the cache (`hit`) or not. */
  cacheLookup(agent: string, hit: boolean): void {
    this.cacheLookups.inc({ agent, result: hit ? 'hit' : 'miss' });
    const [hits, all] = this.lookups.get(agent) ?? [0, 0];
    this.lookups.set(agent, [hits + (hit ? 1 : 0), all + 1]);
    this.cacheHitRatio.set({ agent }, (hits + (hit ? 1 : 0)) / (all + 1));
  }

  providerRateLimited(agent: string | undefined): void {
    this.rateLimited.inc({ agent: agent ?? '' });
  }

  limiterWait(agent: string | undefined, limit: string): void {
    this.capacityWaits.inc({ agent: agent ?? '', limit });
  }

  circuitOpened(scope: string): void {
    this.breakerOpened.inc({ scope });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
