/**
 * The webhooks of one side of a System (engine or API), and their event source for run.finished:
 * the finisher's listener (store/endings.ts), which every ending of a run in this process goes
 * through; the delivery is queued before the finish returns, then the run's mark is removed
 * (finish-notices.ts: a process killed in between leaves it, and the sweep queues the notice).
 * A queueing error is logged, never thrown into the finish (the mark stays).
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Keyring } from '../agents/keyring.js';
import type { EgressConfig } from '../config/egress-env.js';
import type { Logger } from '../logger.js';
import type { RunQueries } from '../query/run-queries.js';
import type { RunStore } from '../store/run-store.js';
import { WebhookRecords } from '../store/webhook-records.js';
import type { DeliveryJob } from './delivery-job.js';
import { noticeFinish } from './finish-notices.js';
import { Webhooks } from './webhooks.js';

export interface SideWebhooksDeps {
  stateRedis: Redis;
  store: Pick<RunStore, 'endings' | 'records'>;
  queries: Pick<RunQueries, 'get'>;
  keyring: Keyring;
  queue: Queue<DeliveryJob>;
  logger: Logger;
  egress: EgressConfig | undefined;
}

export function sideWebhooks(deps: SideWebhooksDeps): Webhooks {
  const records = new WebhookRecords(deps.stateRedis);
  const webhooks = new Webhooks({
    records,
    keyring: deps.keyring,
    queue: deps.queue,
    egress: deps.egress ?? { production: false, allow: [] },
    // Two fields of the record, not the run's whole view (its steps, its DAG, why it waits).
    runOf: async (scope, runId) => {
      const run = (await deps.store.records.fields(scope, runId, ['scheduleId', 'error'])) ?? (await deps.queries.get(scope, runId));
      return { scheduleId: run.scheduleId ?? null, error: run.error ?? null };
    },
  });
  deps.store.endings.onFinished(async (scope, runId, status, facts) => {
    // The write that finished the run saw no webhook that may want it: nothing to read or queue.
    if (!facts.notice) return;
    try {
      await noticeFinish(webhooks, records, scope, runId, status);
    } catch (err) {
      deps.logger.error({ runId, err: (err as Error).message }, 'could not queue the webhooks of a finished run');
    }
  });
  return webhooks;
}
