/**
 * A workspace's caps (src/model/workspace-limits.ts): its own, set by an admin, kept in
 * `keys.workspaceLimits`; the ones in force (its own over the deployment's defaults), read
 * through a short cache so the path of a step pays no Redis read for them; and the counters
 * they hold: leases of steps calling a provider (ws-step-take.lua) and runs running
 * (ws-run-admit.lua).
 */
import type { Redis } from 'ioredis';
import { keys } from './keys.js';
import type { Scope } from './scope.js';
import { wsRunAdmit, wsStepTake } from './scripts/index.js';
import type { WorkspaceCapName, WorkspaceCaps, WorkspaceLimitsUpdate } from '../model/workspace-limits.js';

const CAP_NAMES: readonly WorkspaceCapName[] = ['maxRunningSteps', 'maxRunningRuns'];

/** How long a process keeps a workspace's caps before reading them again, ms (a change made elsewhere holds within it). */
export const CAPS_CACHE_MS = 1_000;

export interface WorkspaceCapsOptions {
  redis: Redis;
  /** Every workspace's caps unless it has its own (SWITCHYARD_WORKSPACE_MAX_RUNNING_*). */
  defaults: WorkspaceCaps;
  /** @default CAPS_CACHE_MS */
  cacheMs?: number;
}

export class WorkspaceCapsStore {
  private readonly cache = new Map<string, { at: number; caps: Promise<WorkspaceCaps>; read?: WorkspaceCaps }>();

  constructor(private readonly opts: WorkspaceCapsOptions) {}

  get defaults(): WorkspaceCaps {
    return this.opts.defaults;
  }

  /** The workspace's own caps (those an admin set). */
  async own(scope: Scope): Promise<Partial<WorkspaceCaps>> {
    const values = await this.opts.redis.hmget(keys.workspaceLimits(scope), ...CAP_NAMES);
    const own: Partial<WorkspaceCaps> = {};
    CAP_NAMES.forEach((name, i) => {
      if (values[i] != null) own[name] = Number(values[i]);
    });
    return own;
  }

  /** Set the caps given (null: back to the default); returns the workspace's own caps now. */
  async setOwn(scope: Scope, update: WorkspaceLimitsUpdate): Promise<Partial<WorkspaceCaps>> {
    const key = keys.workspaceLimits(scope);
    const pipe = this.opts.redis.multi();
    for (const name of CAP_NAMES) {
      const value = update[name];
      if (value === null) pipe.hdel(key, name);
      else if (value !== undefined) pipe.hset(key, name, String(value));
    }
    await pipe.exec();
    this.cache.delete(key);
    return this.own(scope);
  }

  /** The caps in force for the workspace: its own over the defaults (cached for `cacheMs`). */
  effective(scope: Scope): Promise<WorkspaceCaps> {
    const key = keys.workspaceLimits(scope);
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < (this.opts.cacheMs ?? CAPS_CACHE_MS)) return hit.caps;
    const entry: { at: number; caps: Promise<WorkspaceCaps>; read?: WorkspaceCaps } = {
      at: now,
      caps: this.own(scope).then((own) => (entry.read = { ...this.opts.defaults, ...own })),
    };
    // A failed read is not kept.
    entry.caps.catch(() => this.cache.delete(key));
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(key, entry);
    return entry.caps;
  }

  /**
   * The caps in force for the workspace as `effective` gives them now, when it has them read
   * already (within `cacheMs`); undefined otherwise (ask `effective`). A step's begin looks here
   * first, so that it goes on in the same turn when it has nothing to wait for.
   */
  known(scope: Scope): WorkspaceCaps | undefined {
    const hit = this.cache.get(keys.workspaceLimits(scope));
    return hit && Date.now() - hit.at < (this.opts.cacheMs ?? CAPS_CACHE_MS) ? hit.read : undefined;
  }

  /** Take (or renew) a lease for a step's provider call under `cap`. */
  takeStep(scope: Scope, cap: number, member: string, leaseMs: number): Promise<{ taken: boolean; running: number }> {
    return wsStepTake(this.opts.redis, scope, cap, member, leaseMs);
  }

  /** Give a step's lease back (its call ended). */
  async releaseStep(scope: Scope, member: string): Promise<void> {
    await this.opts.redis.zrem(keys.runningSteps(scope), member);
  }

  /** Admit a run under `cap` (one already counted, or already started, goes on). */
  admitRun(scope: Scope, cap: number, runId: string): Promise<{ admitted: boolean; running: number }> {
    return wsRunAdmit(this.opts.redis, scope, cap, runId);
  }
}
