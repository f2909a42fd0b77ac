/**
 * The limiter's Lua scripts (lua/ beside this file: limiter-acquire, limiter-settle,
 * limiter-resume; they share the state scripts' includes), one typed wrapper each: named
 * arguments in, a decoded reply out. The keys they touch are built here, from scope ids.
 */
import type { Redis } from 'ioredis';
import { keys } from '../../store/keys.js';
import { cellOf, scopeOf } from '../../store/scope.js';
import { Script } from '../../store/scripts/script.js';

const LUA = new URL('./lua/', import.meta.url);
/** Three scopes a call (provider, model, agent): their states, leases and bookings, then its run's holds. */
const acquireScript = new Script('limiter-acquire', 10, LUA);
/** The three scopes' states and leases, the run's holds, the set of paused scopes. */
const settleScript = new Script('limiter-settle', 8, LUA);
const resumeScript = new Script('limiter-resume', 2, LUA);

/** The step attempt a call holds its turns and leases for: released with it, or when its run ends. */
export interface HoldsFor {
  runId: string;
  /** The run's workspace: its holds are kept under the run's keys. */
  workspaceId: string;
  stepId: string;
  attempt: number;
}

/** A scope as limiter-acquire counts a call against it (0: no such limit). */
export interface AcquireScope {
  id: string;
  requests: { max: number; windowMs: number };
  tpm: number;
  maxConcurrent: number;
  breaker: boolean;
}

export interface AcquireArgs {
  scopes: readonly AcquireScope[];
  /** Names the call each time its step comes back to it ('' : its turn is not booked). */
  callKey: string;
  lease: string;
  leaseMs: number;
  tokens: number;
  /** The longest wait whose turn is booked (-1: any). */
  bookWithinMs: number;
  holder?: HoldsFor | undefined;
}

/** limiter-acquire's answer; `scope` is the index (from 0) of the scope that decided. */
export type AcquireReply =
  | { result: 'admitted'; probe: boolean }
  | { result: 'wait'; waitMs: number; scope: number; why: string; booked: boolean }
  | { result: 'never'; scope: number; why: string }
  | { result: 'quota'; waitMs: number; scope: number; message: string; recoversAt?: number };

// The limiter's keys are the cell's (every workspace shares a provider's limits); a call's holds are its run's.
const stateKeys = (prefix: string, ids: readonly string[]) => ids.map((id) => keys.limit(cellOf(prefix), id));
const leaseKeys = (prefix: string, ids: readonly string[]) => ids.map((id) => keys.limitLeases(cellOf(prefix), id));
/** Where a call's holds are kept: its run's (no holder: a key nothing is written to). */
const holdsKey = (prefix: string, holder: HoldsFor | undefined) => keys.runHolds(scopeOf(cellOf(prefix), holder?.workspaceId), holder?.runId ?? '');

export async function limiterAcquire(redis: Redis, prefix: string, a: AcquireArgs): Promise<AcquireReply> {
  const ids = a.scopes.map((s) => s.id);
  const args: (string | number)[] = [a.callKey, a.lease, a.leaseMs, a.tokens, a.scopes.length];
  for (const s of a.scopes) args.push(s.requests.max, s.requests.windowMs, s.tpm, s.maxConcurrent, s.breaker ? '1' : '0');
  args.push(a.bookWithinMs, a.holder?.attempt ?? 0, a.holder?.stepId ?? '');
  const scriptKeys = [
    ...stateKeys(prefix, ids),
    ...leaseKeys(prefix, ids),
    ...ids.map((id) => keys.limitBookings(cellOf(prefix), id)),
    holdsKey(prefix, a.holder),
  ];
  const [ok, waitMs, index, why, extra, recoversAt] = (await acquireScript.run(redis, scriptKeys, args)) as [
    number,
    number | string,
    (number | string)?,
    string?,
    (string | number)?,
    number?,
  ];
  if (ok === 1) return { result: 'admitted', probe: index === 'probe' };
  const scope = Number(index ?? 1) - 1;
  if (ok === -2) return { result: 'quota', waitMs: Number(waitMs), scope, message: String(extra ?? ''), ...(recoversAt ? { recoversAt } : {}) };
  if (ok === -1) return { result: 'never', scope, why: why ?? '' };
  return { result: 'wait', waitMs: Number(waitMs), scope, why: why ?? '', booked: extra === 'booked' };
}

/** A scope as limiter-settle settles a call there (0: no such limit or breaker). */
export interface SettleScope {
  id: string;
  tpm: number;
  breaker: { failures: number; windowMs: number; cooldownMs: number } | undefined;
  /** The call's pause (or the pause it probes) is kept here. */
  pauses: boolean;
  /** The call holds a concurrency lease here. */
  leased: boolean;
}

export interface SettleArgs {
  scopes: readonly SettleScope[];
  /** The id of the scope a pause holds (listed in the set of paused scopes). */
  pausedScope: string;
  lease: string;
  /** Tokens used minus tokens reserved. */
  tokenDelta: number;
  result: 'ok' | 'failure' | 'neutral';
  /** Pause for this long from Redis's now (0: none). */
  pauseMs: number;
  pauseKind: '' | 'capped' | 'quota';
  quotaMessage: string;
  /** When the provider said the quota may recover (ms, 0: unknown). */
  recoversAt: number;
  holder?: HoldsFor | undefined;
}

/** What a settle changed, by scope index (from 0): breakers it opened, the scope it paused (not paused before), the scope whose pause its probe lifted. */
export interface SettleChanges {
  opened: number[];
  paused?: number;
  lifted?: number;
}

export async function limiterSettle(redis: Redis, prefix: string, a: SettleArgs): Promise<SettleChanges> {
  const ids = a.scopes.map((s) => s.id);
  const args: (string | number)[] = [
    a.pausedScope,
    a.lease,
    a.tokenDelta,
    a.scopes.length,
    a.result,
    a.pauseMs,
    a.pauseKind,
    a.quotaMessage,
    a.recoversAt,
    a.holder?.attempt ?? 0,
    a.holder?.stepId ?? '',
  ];
  for (const s of a.scopes) {
    args.push(s.tpm, s.breaker?.failures ?? 0, s.breaker?.windowMs ?? 0, s.breaker?.cooldownMs ?? 0, s.pauses ? '1' : '0', s.leased ? '1' : '0');
  }
  const scriptKeys = [...stateKeys(prefix, ids), ...leaseKeys(prefix, ids), holdsKey(prefix, a.holder), keys.limitPaused(cellOf(prefix))];
  const [opened, paused, lifted] = (await settleScript.run(redis, scriptKeys, args)) as [number[], number, number];
  return { opened: opened.map((i) => i - 1), ...(paused > 0 ? { paused: paused - 1 } : {}), ...(lifted > 0 ? { lifted: lifted - 1 } : {}) };
}

/** A lifted pause: when it was to end (ms), and how ('' by itself, 'capped' or 'quota': with a probe). */
export interface ResumeReply {
  wasPausedUntil: number;
  kind: string;
}

/** Lift `scope`'s pause (an admin's resume); null when it is not paused. */
export async function limiterResume(redis: Redis, prefix: string, scope: string): Promise<ResumeReply | null> {
  const [ok, until, kind] = (await resumeScript.run(redis, [keys.limit(cellOf(prefix), scope), keys.limitPaused(cellOf(prefix))], [scope])) as [
    number,
    number?,
    string?,
  ];
  return ok === 1 ? { wasPausedUntil: until ?? 0, kind: kind ?? '' } : null;
}
