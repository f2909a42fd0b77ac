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
  /** The run's workspace and its cell's tag: its holds are kept under the run's keys. */
  workspaceId: string;
  tag: string;
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
/** Where a call's holds are kept: its run's (no holder: a key in the limiter's slot nothing is written to). */
const holdsKey = (prefix: string, holder: HoldsFor | undefined) =>
  holder ? keys.runHolds(scopeOf(cellOf(holder.tag), holder.workspaceId), holder.runId) : keys.runHolds(scopeOf(cellOf(prefix)), '');

/**
 * Admit a call. When its run is in the limiter's slot (one cell, or cell 0) one script does it
 * all; otherwise no script may touch both (a Redis Cluster refuses it), and the run's holds are
 * kept around the limiter's script (holdsAround).
 */
export async function limiterAcquire(redis: Redis, prefix: string, a: AcquireArgs): Promise<AcquireReply> {
  if (!a.holder || a.holder.tag === prefix) return acquireHere(redis, prefix, a);
  return holdsAround(redis, prefix, a, a.holder);
}

async function acquireHere(redis: Redis, prefix: string, a: AcquireArgs): Promise<AcquireReply> {
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

/** Settle a call: in one script, or (its run in another slot) the limiter's, then its run's holds (see holdsAround). */
export async function limiterSettle(redis: Redis, prefix: string, a: SettleArgs): Promise<SettleChanges> {
  if (!a.holder || a.holder.tag === prefix) return settleHere(redis, prefix, a);
  const changes = await settleHere(redis, prefix, { ...a, holder: undefined });
  await leasesLeft(
    redis,
    prefix,
    a.holder,
    a.lease,
    a.scopes.filter((s) => s.leased).map((s) => s.id),
  );
  return changes;
}

async function settleHere(redis: Redis, prefix: string, a: SettleArgs): Promise<SettleChanges> {
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

/** A turn booked is kept in a run's holds this long after it (as limiter-acquire.lua's BOOKING_KEPT). */
const BOOKING_KEPT_MS = 600_000;

/** One hold of a run's call, as lua/includes/holdEntry.lua writes it. */
const holdEntry = (kind: 'b' | 'l', holder: HoldsFor, id: string, stateKey: string) => `${kind} ${holder.attempt} ${holder.stepId} ${id} ${stateKey}`;

/**
 * Admit a call whose run is in another slot than the limiter, keeping its run's holds (what
 * the run's end releases) around the limiter's script, each side in its own slot:
 * 1. the leases it may take are written to its run's holds first (so a lease the limiter gives
 *    is always among them, whatever happens next);
 * 2. the limiter's script admits it or not (the limiter is authoritative: a hold entry it did
 *    not take releases nothing there);
 * 3. its run's holds are put right: leases not taken leave them, turns booked join them, turns
 *    it went on leave them.
 * A crash between 2 and 3 leaves a turn booked without its hold: the call finds it when its
 * step comes back (the same call key), or it is dropped ten minutes after its time.
 */
async function holdsAround(redis: Redis, prefix: string, a: AcquireArgs, holder: HoldsFor): Promise<AcquireReply> {
  const cell = cellOf(prefix);
  const holds = keys.runHolds(scopeOf(cellOf(holder.tag), holder.workspaceId), holder.runId);
  const leases = a.scopes.filter((s) => s.maxConcurrent > 0).map((s) => holdEntry('l', holder, a.lease, keys.limit(cell, s.id)));
  const turns = a.callKey ? a.scopes.filter((s) => s.requests.max > 0).map((s) => holdEntry('b', holder, a.callKey, keys.limit(cell, s.id))) : [];
  const keep = Math.max(3_600_000, a.leaseMs);
  if (leases.length) {
    await redis
      .multi()
      .zadd(holds, ...leases.flatMap((e) => [Date.now() + a.leaseMs, e]))
      .pexpire(holds, keep)
      .exec();
  }
  const reply = await acquireHere(redis, prefix, { ...a, holder: undefined });
  const fix = redis.multi();
  if (reply.result !== 'admitted' && leases.length) fix.zrem(holds, ...leases);
  if (reply.result === 'admitted' && turns.length) fix.zrem(holds, ...turns);
  if (reply.result === 'wait' && reply.booked && turns.length) {
    fix.zadd(holds, ...turns.flatMap((e) => [Date.now() + reply.waitMs + BOOKING_KEPT_MS, e])).pexpire(holds, Math.max(keep, reply.waitMs + BOOKING_KEPT_MS));
  }
  if (fix.length) await fix.exec();
  return reply;
}

/** A settled call's leases leave its run's holds (after the limiter gave them back). */
async function leasesLeft(redis: Redis, prefix: string, holder: HoldsFor, lease: string, scopeIds: readonly string[]): Promise<void> {
  if (scopeIds.length === 0) return;
  const holds = keys.runHolds(scopeOf(cellOf(holder.tag), holder.workspaceId), holder.runId);
  await redis.zrem(holds, ...scopeIds.map((id) => holdEntry('l', holder, lease, keys.limit(cellOf(prefix), id))));
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
