/**
 * Redis key and queue names. Every key starts with the BullMQ prefix (a `{hash tag}` by
 * default), so a run's keys and its queues share one Redis Cluster slot.
 */

/** Queue of the `run` jobs: the root of every run's flow, which finalises the run. */
export const RUN_QUEUE = 'runs';
/** Internal queue of `ref` jobs: extra edges to steps owned by another branch of the tree. */
export const REF_QUEUE = 'refs';
/** Queue fed by the job schedulers (cron). */
export const SCHEDULE_QUEUE = 'schedules';

export const agentQueueName = (agent: string): string => `agent.${agent}`;
export const stepJobId = (runId: string, stepId: string): string => `${runId}.${stepId}`;
export const refJobId = (runId: string, target: string, dependent: string): string => `${runId}.${target}.ref.${dependent}`;

export const keys = {
  run: (prefix: string, runId: string) => `${prefix}:run:${runId}`,
  step: (prefix: string, runId: string, stepId: string) => `${prefix}:run:${runId}:s:${stepId}`,
  events: (prefix: string, runId: string) => `${prefix}:run:${runId}:events`,
  runIndex: (prefix: string) => `${prefix}:runs`,
  idempotency: (prefix: string, key: string) => `${prefix}:idem:${key}`,
  outbox: (prefix: string) => `${prefix}:outbox`,
  cancelChannel: (prefix: string) => `${prefix}:cancel`,
};
