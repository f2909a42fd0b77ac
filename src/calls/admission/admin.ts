/**
 * What an operator sees of the shared limiter, and lifts: the scopes paused after a 429, an
 * overload or a spent quota (GET /v1/limits, /readyz, `npm run limits -- list`), and lifting
 * a pause (POST /v1/limits/:scope/resume, `npm run limits -- resume <scope>`): calls to the
 * scope go again at once, the queues of the agents that call it are no longer rate limited,
 * and their steps waiting for the scope are woken.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { NotFoundError } from '../../errors/index.js';
import type { Logger } from '../../logger.js';
import { agentQueueName, keys } from '../../store/keys.js';
import type { RunStore } from '../../store/run-store.js';
import { cellOf, scopeOf } from '../../store/scope.js';
import { limiterResume } from './limiter-scripts.js';
import { CAPACITY_WAIT } from '../../model/run.js';
import type { ResolvedAgent } from '../../model/agent.js';
import type { LimitPlan } from './limiter.js';

/** A limiter scope that is paused now (or whose pause waits for its probe call). */
export interface PausedScope {
  scope: string;
  /** When the pause ends (ISO); past while it waits for its probe call. */
  until: string;
  /** It ends with one probe call that decides whether it goes on (it was capped, or the quota is spent). */
  probed: boolean;
  /** Paused because the provider's quota is spent: its calls go to fallbacks or fail at once. */
  quotaExhausted: boolean;
  /** The provider's message (a spent quota). */
  message?: string;
  /** When the provider said the quota may recover (ISO). */
  recoversAt?: string;
}

export interface ResumeResult {
  scope: string;
  /** When the pause would have ended (ISO). */
  wasPausedUntil: string;
  quotaExhausted: boolean;
  /** The agent queues whose rate limit was lifted. */
  queues: string[];
  /** Steps that were waiting for the scope, woken now. */
  woken: number;
}

/** The agents whose calls a scope counts (the AgentRegistry). */
export interface AgentsOfScopes {
  list(): readonly ResolvedAgent[];
  readonly limits: LimitPlan;
}

/** What a delayed step job says of its step (flow-builder's StepJobData, as far as it is read here). */
interface WaitingStep {
  workspaceId: string;
  runId: string;
  step?: { id: string };
}

/** One cell's side of a resume: its queues (by name) and its run store (why its steps wait). */
export interface AdminCell {
  tag: string;
  queue: (name: string) => Queue | undefined;
  store: Pick<RunStore, 'steps'>;
}

/** Delayed jobs looked at per queue for steps waiting on a resumed scope. */
const MAX_WOKEN_PER_QUEUE = 1000;

export class LimitsAdmin {
  constructor(
    private readonly deps: {
      redis: Redis;
      /** Where the limiter's keys are (the global slot). */
      prefix: string;
      registry: AgentsOfScopes;
      /** Every cell, whose queues a resume lifts and whose waiting steps it wakes. */
      cells: () => readonly AdminCell[];
      logger: Logger;
    },
  ) {}

  /** The scopes paused now, soonest to end first. */
  async paused(): Promise<PausedScope[]> {
    const { redis, prefix } = this.deps;
    const cell = cellOf(prefix);
    const ids = await redis.zrange(keys.limitPaused(cell), '0', '-1');
    if (ids.length === 0) return [];
    const pipe = redis.pipeline();
    for (const id of ids) pipe.hmget(keys.limit(cell, id), 'pausedUntil', 'pauseProbe', 'quota', 'quotaUntil');
    const rows = (await pipe.exec()) ?? [];
    const now = Date.now();
    return ids.flatMap((scope, i) => {
      const [until, kind, message, recovers] = (rows[i]?.[1] as (string | null)[] | undefined) ?? [];
      const untilMs = Number(until ?? 0);
      // A pause that ended by itself (no probe to wait for) is no longer one.
      if (untilMs <= now && !kind) return [];
      const recoversAt = Number(recovers ?? 0);
      return [
        {
          scope,
          until: new Date(untilMs).toISOString(),
          probed: Boolean(kind),
          quotaExhausted: kind === 'quota',
          ...(message ? { message } : {}),
          ...(recoversAt > 0 ? { recoversAt: new Date(recoversAt).toISOString() } : {}),
        },
      ];
    });
  }

  /** Lift `scope`'s pause. NotFoundError when it is not paused. */
  async resume(scope: string): Promise<ResumeResult> {
    const { redis, prefix, logger } = this.deps;
    const lifted = await limiterResume(redis, prefix, scope);
    if (!lifted) {
      const paused = (await this.paused()).map((p) => p.scope);
      throw new NotFoundError(`limiter scope "${scope}" is not paused (paused now: ${paused.length ? paused.join(', ') : 'none'})`);
    }
    const queues = this.queuesCalling(scope);
    let woken = 0;
    for (const cell of this.deps.cells()) {
      for (const name of queues) {
        const queue = cell.queue(name);
        if (!queue) continue;
        // A 429 also paused the queue of the agent whose call it answered.
        await queue.removeRateLimitKey();
        woken += await this.wakeWaiting(cell, queue, scope);
      }
    }
    const wasPausedUntil = new Date(lifted.wasPausedUntil).toISOString();
    logger.warn({ scope, wasPausedUntil, queues, woken }, 'limiter pause lifted by an admin');
    return { scope, wasPausedUntil, quotaExhausted: lifted.kind === 'quota', queues, woken };
  }

  /** The queues of the agents whose calls (to their model or a fallback, or their own rate) count in `scope`. */
  private queuesCalling(scope: string): string[] {
    const { registry } = this.deps;
    return registry
      .list()
      .filter(
        (a) =>
          scope === `@${a.name}` ||
          [a, ...(a.fallbacks ?? [])].some((t) =>
            registry.limits.scopes({ provider: t.provider, model: t.model, apiKey: t.apiKey }).some((s) => s.id === scope),
          ),
      )
      .map((a) => agentQueueName(a.name));
  }

  /** Wake the steps of `queue` that sleep waiting for `scope`'s pause (not those waiting out a retry backoff). */
  private async wakeWaiting(cell: AdminCell, queue: Queue, scope: string): Promise<number> {
    const jobs = (await queue.getDelayed(0, MAX_WOKEN_PER_QUEUE - 1)).flatMap((j) => {
      const data = j?.data as WaitingStep | undefined;
      return j?.id && data?.step ? [{ id: j.id, workspaceId: data.workspaceId, runId: data.runId, stepId: data.step.id }] : [];
    });
    const reasons = await cell.store.steps.reasons(jobs.map((j) => ({ scope: scopeOf(cell, j.workspaceId), runId: j.runId, stepId: j.stepId })));
    const waiting = `${CAPACITY_WAIT}${scope} paused`;
    const wake = jobs.filter((_, i) => reasons[i]?.startsWith(waiting));
    await Promise.all(wake.map((j) => this.promote(queue, j.id)));
    return wake.length;
  }

  /** Wake a delayed job; one that is no longer delayed (it woke by itself, ended, or is gone) is left alone. */
  private async promote(queue: Queue, jobId: string): Promise<void> {
    try {
      await queue.getBackend().promote(jobId);
    } catch (err) {
      this.deps.logger.debug({ jobId, err }, 'job not promoted (not delayed)');
    }
  }
}
