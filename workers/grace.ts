/**
 * How long to keep looking at a step that BullMQ reports finished while its run state still
 * reads live (queued, running, retrying).
 *
 * A step's final state is sent on BullMQ's connection just before its job completes (see
 * `RunStore.transitionStepAhead`), so Redis normally applies it first. The exception is a
 * state write that had to be resent (the script cache was flushed while the connection stayed
 * up: ioredis retries the script in full after BullMQ's completion has gone out). Otherwise a
 * step live at that point lost its job, and is recorded as lost after this grace.
 */
export const LIVE_GRACE_MS: readonly number[] = [25, 50, 100, 200, 400, 800];

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
