/**
 * The limiter seam: every provider call asks for capacity first and settles after. One
 * implementation, Redis-backed (scripts/lua/limiter-acquire.lua and limiter-settle.lua), so
 * limits hold across every agent queue and every worker process that uses a provider, model
 * or API key. Chosen in one place: src/engine/pools.ts wraps each agent's provider in a
 * LimitedProvider (limited-provider.ts) when a limit can apply to it.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ProviderName } from '../agents/agent-spec.js';
import { keys } from '../runs/keys.js';
import { Script } from '../runs/scripts/script.js';
import type { BreakerSpec, LimitSet, ProviderLimits } from './spec.js';

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
export interface Scope {
  id: string;
  limits: LimitSet;
  /** Requests per window other than a minute (an agent's `rateLimit`). */
  requests?: { max: number; windowMs: number } | undefined;
  breaker?: BreakerSpec | undefined;
}

export interface Ticket {
  lease: string;
  tokens: number;
  scopes: readonly Scope[];
}

/** Refused: `booked` when its turn is kept for it (under its call key) `waitMs` from now. */
export type Admission = { granted: true; ticket: Ticket } | { granted: false; waitMs: number; scope: string; why: string; never: boolean; booked: boolean };

export type CallOutcome =
  /** Answered: `usedTokens` corrects the reservation; `pauseUntil` when its headers said the capacity is spent. */
  | { result: 'ok'; usedTokens: number; pauseUntil?: number }
  /** Failed in a way that says the provider is unwell (5xx, timeout, connection, overloaded): counts for the breaker. */
  | { result: 'failure'; pauseUntil?: number }
  /** Ended without saying anything of the provider's health (cancelled, bad request, rate limited). */
  | { result: 'neutral'; pauseUntil?: number };

export interface Limiter {
  /**
   * With `callKey`, a call refused for a rate has its turn booked: coming back with the same
   * key at that turn, it goes. Not when the turn is more than `bookWithinMs` away (a caller with
   * a fallback to go to instead).
   */
  acquire(target: CallTarget, tokens: number, leaseMs: number, callKey?: string, bookWithinMs?: number): Promise<Admission>;
  /** Returns the scopes whose breaker this call opened. */
  settle(ticket: Ticket, outcome: CallOutcome): Promise<string[]>;
}

/** The limits of the agents file, by provider: which apply to a call. */
export class LimitPlan {
  constructor(private readonly providers: Readonly<Partial<Record<ProviderName, ProviderLimits>>>) {}

  /**
   * Whether calls to `provider` go through the limiter: always for a real provider (a 429
   * pauses it for every process), for echo only when it has declared limits. Never for echo
   * standing in for a provider without a key (`standIn`): the limits were written for that
   * provider, and an offline answer costs nothing.
   */
  applies(provider: ProviderName, agentRateLimit?: unknown, standIn = false): boolean {
    if (provider !== 'echo') return true;
    return !standIn && (this.providers.echo !== undefined || agentRateLimit !== undefined);
  }

  scopes(t: CallTarget): [Scope, Scope, Scope] {
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

const acquireScript = new Script('limiter-acquire', 9);
const settleScript = new Script('limiter-settle', 6);

export class RedisLimiter implements Limiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly plan: LimitPlan,
  ) {}

  /** Each scope's state hash and leases, then (to acquire) its bookings. */
  private keysOf(scopes: readonly Scope[], bookings = false): string[] {
    const of = (key: (prefix: string, scope: string) => string) => scopes.map((s) => key(this.prefix, s.id));
    return [...of(keys.limit), ...of(keys.limitLeases), ...(bookings ? of(keys.limitBookings) : [])];
  }

  async acquire(target: CallTarget, tokens: number, leaseMs: number, callKey = '', bookWithinMs = -1): Promise<Admission> {
    const scopes = this.plan.scopes(target);
    const lease = randomUUID();
    const args: (string | number)[] = [callKey, lease, leaseMs, tokens, scopes.length];
    for (const s of scopes) {
      const requests = s.requests ?? (s.limits.rpm ? { max: s.limits.rpm, windowMs: 60_000 } : { max: 0, windowMs: 0 });
      args.push(requests.max, requests.windowMs, s.limits.tpm ?? 0, s.limits.maxConcurrent ?? 0, s.breaker ? '1' : '0');
    }
    args.push(bookWithinMs);
    const [ok, waitMs, index, why, booked] = (await acquireScript.run(this.redis, this.keysOf(scopes, true), args)) as [number, number, number?, string?, string?];
    if (ok === 1) return { granted: true, ticket: { lease, tokens, scopes } };
    const scope = scopes[(index ?? 1) - 1]!;
    return { granted: false, waitMs, scope: scope.id, why: why === 'requests' ? (scope.requests ? 'rateLimit' : 'rpm') : (why ?? ''), never: ok === -1, booked: booked === 'booked' };
  }

  async settle(ticket: Ticket, outcome: CallOutcome): Promise<string[]> {
    const { scopes } = ticket;
    const delta = outcome.result === 'ok' ? outcome.usedTokens - ticket.tokens : -ticket.tokens;
    // The pause goes as a length: the script counts it from Redis's clock.
    const pauseMs = outcome.pauseUntil ? Math.max(1, outcome.pauseUntil - Date.now()) : 0;
    const args: (string | number)[] = [0, ticket.lease, delta, scopes.length, outcome.result, pauseMs];
    // A pause holds the model (the scope a provider's limits are kept by), on its key when per key.
    scopes.forEach((s, i) => args.push(s.limits.tpm ?? 0, s.breaker?.failures ?? 0, s.breaker?.windowMs ?? 0, s.breaker?.cooldownMs ?? 0, i === 1 ? '1' : '0'));
    const opened = (await settleScript.run(this.redis, this.keysOf(scopes), args)) as number[];
    return opened.map((i) => scopes[i - 1]!.id);
  }

  /** Per scope of these targets (each once): whether its circuit is open, and ms left of its pause. */
  async state(targets: readonly CallTarget[]): Promise<{ scope: string; open: boolean; pausedMs: number }[]> {
    const scopes = [...new Map(targets.flatMap((t) => this.plan.scopes(t).slice(0, 2)).map((s) => [s.id, s])).values()];
    if (scopes.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const s of scopes) pipe.hmget(keys.limit(this.prefix, s.id), 'openUntil', 'pausedUntil');
    const rows = (await pipe.exec()) ?? [];
    const now = Date.now();
    return scopes.map((s, i) => {
      const [open, paused] = ((rows[i]?.[1] as (string | null)[] | undefined) ?? []).map((v) => Number(v ?? 0));
      return { scope: s.id, open: (open ?? 0) > now, pausedMs: Math.max(0, (paused ?? 0) - now) };
    });
  }

}

/** Whether settling `ticket` after an answer does anything (a lease, a token count, a breaker). */
export function needsSettle(ticket: Ticket): boolean {
  return ticket.scopes.some((s) => s.limits.tpm !== undefined || s.limits.maxConcurrent !== undefined || s.breaker !== undefined);
}
