/**
 * The shared limiter: every provider call a limit can apply to asks it for capacity first and
 * settles after (through admission: limits-gate.ts). One implementation, Redis-backed
 * (lua/limiter-acquire.lua and limiter-settle.lua, wrapped in limiter-scripts.ts), so limits
 * hold across every agent queue and every worker process that uses a provider, model or API
 * key. `LimitPlan` says which limits apply to a call (the agents file's `providers`).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ProviderName } from '../../model/agent.js';
import type { LimiterScopeState } from '../../metrics/metrics.js';
import type { CallHolder } from '../provider.js';
import { keys } from '../../store/keys.js';
import { cellOf } from '../../store/scope.js';
import { limiterAcquire, limiterSettle } from './limiter-scripts.js';
import { VENDORS } from '../vendors/index.js';
import type { BreakerSpec, LimitSet, ProviderLimits } from '../../model/provider-limits.js';

/** Who a call goes to: the limits that apply follow from these. */
export interface CallTarget {
  provider: ProviderName;
  model: string;
  /** Only its hash is used, and only when the provider's limits are per key. */
  apiKey?: string | undefined;
  /** The agent that calls, and its own `rateLimit` (calls per window), if any. */
  agent?: { name: string; rateLimit?: { max: number; durationMs: number } | undefined } | undefined;
}

/** One scope a call counts against: the provider's (index 0), its model's (1) and its agent's (2). */
export interface LimitScope {
  id: string;
  limits: LimitSet;
  /** Requests per window other than a minute (an agent's `rateLimit`). */
  requests?: { max: number; windowMs: number } | undefined;
  breaker?: BreakerSpec | undefined;
}

export interface Ticket {
  lease: string;
  tokens: number;
  scopes: readonly LimitScope[];
  /** The run's step attempt the call holds its leases for (released with it). */
  holder?: CallHolder | undefined;
  /** This call is the probe that decides whether a pause (capped, or for a spent quota) goes on. */
  pauseProbe: boolean;
}

/** What the limiter knows of a scope paused because its quota is spent. */
export interface QuotaPause {
  /** The provider's own message. */
  message: string;
  /** When the provider said the quota may recover (ms), if it said. */
  recoversAt?: number | undefined;
  /** Until when calls to the scope are refused at once (ms); then one probe call decides. */
  pausedUntil: number;
}

/**
 * Refused: `booked` when its turn is kept for it (under its call key) `waitMs` from now;
 * `quota` when the scope is paused because its quota is spent (the call does not wait: it goes
 * to a fallback or fails).
 */
export type LimiterAnswer =
  { granted: true; ticket: Ticket } | { granted: false; waitMs: number; scope: string; why: string; never: boolean; booked: boolean; quota?: QuotaPause };

/**
 * A pause a call's ending puts on its model: until when (ms), and how it ends: by itself, or
 * (`capped`: the provider asked for longer than the pause cap; `quota`: the quota is spent)
 * with one probe call that decides whether it goes on.
 */
export interface PauseOutcome {
  pauseUntil?: number;
  pauseKind?: 'capped' | 'quota';
  /** With `quota`: the provider's message and when it said the quota may recover. */
  quota?: { message: string; recoversAt?: number | undefined };
}

export type CallOutcome =
  /** Answered: `usedTokens` corrects the reservation; `pauseUntil` when its headers said the capacity is spent. */
  | ({ result: 'ok'; usedTokens: number } & PauseOutcome)
  /** Failed in a way that says the provider is unwell (5xx, timeout, connection, overloaded): counts for the breaker. */
  | ({ result: 'failure' } & PauseOutcome)
  /** Ended without saying anything of the provider's health (cancelled, bad request, rate limited). */
  | ({ result: 'neutral' } & PauseOutcome);

/** What a settle changed: the scopes whose breaker it opened, the scope it paused (when it was not paused), the scope whose pause its probe lifted. */
export interface SettleReply {
  opened: string[];
  paused?: string | undefined;
  lifted?: string | undefined;
}

export interface Limiter {
  /**
   * With `callKey`, a call refused for a rate has its turn booked: coming back with the same
   * key at that turn, it goes. Not when the turn is more than `bookWithinMs` away (a caller with
   * a fallback to go to instead). With `holder`, the turns it books and the leases it takes are
   * released when that attempt is recovered or its run ends.
   */
  acquire(target: CallTarget, tokens: number, leaseMs: number, callKey?: string, bookWithinMs?: number, holder?: CallHolder): Promise<LimiterAnswer>;
  settle(ticket: Ticket, outcome: CallOutcome): Promise<SettleReply>;
}

/** The limits of the agents file, by provider: which apply to a call. */
export class LimitPlan {
  constructor(private readonly providers: Readonly<Partial<Record<ProviderName, ProviderLimits>>>) {}

  /**
   * Whether calls to `provider` go through the limiter: always for a remote vendor (a 429
   * pauses it for every process), for an offline one (echo) only when it has declared limits.
   * Never for echo standing in for a provider without a key (`standIn`): the limits were
   * written for that provider, and an offline answer costs nothing.
   */
  applies(provider: ProviderName, agentRateLimit?: unknown, standIn = false): boolean {
    if (VENDORS[provider].remote) return true;
    return !standIn && (this.providers[provider] !== undefined || agentRateLimit !== undefined);
  }

  scopes(t: CallTarget): [LimitScope, LimitScope, LimitScope] {
    const spec = this.providers[t.provider];
    const base = spec?.perKey && t.apiKey ? `${t.provider}#${createHash('sha256').update(t.apiKey).digest('hex').slice(0, 12)}` : t.provider;
    const { models = {}, perKey: _k, breaker, ...own } = spec ?? {};
    const match = Object.keys(models)
      .filter((prefix) => t.model.startsWith(prefix))
      .sort((a, b) => b.length - a.length)[0];
    const rl = t.agent?.rateLimit;
    return [
      { id: base, limits: own },
      { id: `${base}/${t.model}`, limits: match ? models[match]! : {}, breaker },
      // An agent's own limit holds for its calls whatever model answers them (`@` is no provider name).
      { id: `@${t.agent?.name ?? ''}`, limits: {}, ...(rl ? { requests: { max: rl.max, windowMs: rl.durationMs } } : {}) },
    ];
  }
}

export class RedisLimiter implements Limiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly plan: LimitPlan,
  ) {}

  async acquire(target: CallTarget, tokens: number, leaseMs: number, callKey = '', bookWithinMs = -1, holder?: CallHolder): Promise<LimiterAnswer> {
    const scopes = this.plan.scopes(target);
    const lease = randomUUID();
    const reply = await limiterAcquire(this.redis, this.prefix, {
      scopes: scopes.map((s) => ({
        id: s.id,
        requests: s.requests ?? (s.limits.rpm ? { max: s.limits.rpm, windowMs: 60_000 } : { max: 0, windowMs: 0 }),
        tpm: s.limits.tpm ?? 0,
        maxConcurrent: s.limits.maxConcurrent ?? 0,
        breaker: s.breaker !== undefined,
      })),
      callKey,
      lease,
      leaseMs,
      tokens,
      bookWithinMs,
      holder,
    });
    if (reply.result === 'admitted') return { granted: true, ticket: { lease, tokens, scopes, holder, pauseProbe: reply.probe } };
    const scope = scopes[reply.scope]!;
    if (reply.result === 'quota') {
      const quota: QuotaPause = {
        message: reply.message,
        pausedUntil: Date.now() + reply.waitMs,
        ...(reply.recoversAt ? { recoversAt: reply.recoversAt } : {}),
      };
      return { granted: false, waitMs: reply.waitMs, scope: scope.id, why: 'quota', never: false, booked: false, quota };
    }
    return {
      granted: false,
      waitMs: reply.result === 'wait' ? reply.waitMs : 0,
      scope: scope.id,
      why: reply.why === 'requests' ? (scope.requests ? 'rateLimit' : 'rpm') : reply.why,
      never: reply.result === 'never',
      booked: reply.result === 'wait' && reply.booked,
    };
  }

  async settle(ticket: Ticket, outcome: CallOutcome): Promise<SettleReply> {
    const { scopes } = ticket;
    // The pause goes as a length: the script counts it from Redis's clock.
    const pauseMs = outcome.pauseUntil ? Math.max(1, outcome.pauseUntil - Date.now()) : 0;
    const changes = await limiterSettle(this.redis, this.prefix, {
      // A pause holds the model (the scope a provider's limits are kept by), on its key when per
      // key; the scope whose pause this call probes is settled there too.
      scopes: scopes.map((s, i) => ({
        id: s.id,
        tpm: s.limits.tpm ?? 0,
        breaker: s.breaker,
        pauses: i === 1 && (pauseMs > 0 || ticket.pauseProbe),
        leased: Boolean(s.limits.maxConcurrent),
      })),
      pausedScope: scopes[1]!.id,
      lease: ticket.lease,
      tokenDelta: outcome.result === 'ok' ? outcome.usedTokens - ticket.tokens : -ticket.tokens,
      result: outcome.result,
      pauseMs,
      pauseKind: outcome.pauseKind ?? '',
      quotaMessage: outcome.quota?.message ?? '',
      recoversAt: outcome.quota?.recoversAt ?? 0,
      holder: ticket.holder,
    });
    const id = (i: number | undefined) => (i === undefined ? undefined : scopes[i]!.id);
    return { opened: changes.opened.map((i) => scopes[i]!.id), paused: id(changes.paused), lifted: id(changes.lifted) };
  }

  /**
   * Per scope of these targets (each once): whether its circuit is open, ms left of its pause,
   * and whether it is paused because its quota is spent (until a probe call answers or an
   * admin lifts it).
   */
  async state(targets: readonly CallTarget[]): Promise<LimiterScopeState[]> {
    const scopes = [...new Map(targets.flatMap((t) => this.plan.scopes(t).slice(0, 2)).map((s) => [s.id, s])).values()];
    if (scopes.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const s of scopes) pipe.hmget(keys.limit(cellOf(this.prefix), s.id), 'openUntil', 'pausedUntil', 'pauseProbe');
    const rows = (await pipe.exec()) ?? [];
    const now = Date.now();
    return scopes.map((s, i) => {
      const [open, paused, kind] = (rows[i]?.[1] as (string | null)[] | undefined) ?? [];
      return { scope: s.id, open: Number(open ?? 0) > now, pausedMs: Math.max(0, Number(paused ?? 0) - now), quotaExhausted: kind === 'quota' };
    });
  }
}

/** Whether settling `ticket` after an answer does anything (a lease, a token count, a breaker, a pause probe). */
export function needsSettle(ticket: Ticket): boolean {
  return ticket.pauseProbe || ticket.scopes.some((s) => s.limits.tpm !== undefined || s.limits.maxConcurrent !== undefined || s.breaker !== undefined);
}
