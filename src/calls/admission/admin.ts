/**
 * What an operator sees of the shared limiter, and lifts: the scopes paused after a 429, an
 * overload or a spent quota (GET /v1/limits, /readyz, `npm run limits -- list`), and lifting
 * a pause (POST /v1/limits/:scope/resume, `npm run limits -- resume <scope>`): calls to the
 * scope go again at once, the queues of the agents that call it are no longer rate limited,
 * and their steps waiting for the scope are woken.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AgentRegistry } from '../../agents/registry.js';
import { NotFoundError } from '../../errors/index.js';
import type { Logger } from '../../logger.js';
import { agentQueueName, keys } from '../../store/keys.js';
import { promoteIfDelayed } from '../../flow/run-control.js';
import type { RunStore } from '../../store/run-store.js';
import type { StepJobData } from '../../flow/flow-builder.js';
import { limiterResume } from './limiter-scripts.js';
import { CAPACITY_WAIT } from '../../model/run.js';

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

/** Delayed jobs looked at per queue for steps waiting on a resumed scope. */
const MAX_WOKEN_PER_QUEUE = 1000;

export class LimitsAdmin {
  constructor(
    private readonly deps: {
      redis: Redis;
      prefix: string;
      registry: AgentRegistry;
      queue: (name: string) => Queue | undefined;
      store: RunStore;
      logger: Logger;
    },
  ) {}

  /** The scopes paused now, soonest to end first. */
  async paused(): Promise<PausedScope[]> {
    const { redis, prefix } = this.deps;
    const ids = await redis.zrange(keys.limitPaused(prefix), '0', '-1');
    if (ids.length === 0) return [];
    const pipe = redis.pipeline();
    for (const id of ids) pipe.hmget(keys.limit(prefix, id), 'pausedUntil', 'pauseProbe', 'quota', 'quotaUntil');
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
    for (const name of queues) {
      const queue = this.deps.queue(name);
      if (!queue) continue;
      // A 429 also paused the queue of the agent whose call it answered.
      await queue.removeRateLimitKey();
      woken += await this.wakeWaiting(queue, scope);
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
  private async wakeWaiting(queue: Queue, scope: string): Promise<number> {
    const jobs = (await queue.getDelayed(0, MAX_WOKEN_PER_QUEUE - 1)).filter((j): j is NonNullable<typeof j> =>
      Boolean(j?.id && (j.data as StepJobData | undefined)?.step),
    );
    const reasons = await this.deps.store.stepReasons(jobs.map((j) => ({ runId: (j.data as StepJobData).runId, stepId: (j.data as StepJobData).step.id })));
    const waiting = `${CAPACITY_WAIT}${scope} paused`;
    const wake = jobs.filter((_, i) => reasons[i]?.startsWith(waiting));
    await Promise.all(wake.map((j) => promoteIfDelayed(queue, j.id!, this.deps.logger)));
    return wake.length;
  }
}
